"""A task name over the minion's ``max_task_name_length`` is refused where it is written:
at ``@app.task`` / ``@app.periodic``, not later by every apply of it."""

from __future__ import annotations

import pytest

from arbiter_core.errors import TaskDefinitionError
from arbiter_core.minion import Minion
from arbiter_core.settings import DEFAULT_MAX_TASK_NAME_LENGTH


def test_a_too_long_name_is_refused_at_decoration_naming_the_limit() -> None:
    app = Minion("memory://limits-registration")
    long_name = "n" * (DEFAULT_MAX_TASK_NAME_LENGTH + 1)
    with pytest.raises(TaskDefinitionError) as caught:

        @app.task(name=long_name)
        def work() -> None: ...

    message = str(caught.value)
    assert "the task name is 257 characters, over the max_task_name_length limit of 256" in message
    assert "ARBITER_MAX_TASK_NAME_LENGTH" in message
    assert long_name not in app.tasks

    @app.task(name="n" * DEFAULT_MAX_TASK_NAME_LENGTH)  # at the limit is fine
    def fine() -> None: ...

    assert "n" * DEFAULT_MAX_TASK_NAME_LENGTH in app.tasks


def test_the_limit_is_the_minions_own_setting_and_covers_periodic_and_default_names() -> None:
    app = Minion("memory://limits-registration-small", max_task_name_length=10)
    with pytest.raises(TaskDefinitionError, match="over the max_task_name_length limit of 10"):
        app.task(name="eleven-char")(lambda: None)
    with pytest.raises(TaskDefinitionError, match="over the max_task_name_length limit of 10"):

        @app.task  # the default name, module.qualname, is far longer than 10
        def unnamed() -> None: ...

    with pytest.raises(TaskDefinitionError, match="over the max_task_name_length limit of 10"):

        @app.periodic(every=60, name="a-long-tick")
        def tick() -> None: ...

    assert list(app.tasks) == [] and len(app.periodic_table) == 0
    app.task(name="ten-chars!")(lambda: None)
    assert list(app.tasks) == ["ten-chars!"]
