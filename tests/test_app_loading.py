"""``load_minion``: finding the Minion an operator names, and saying what is wrong when not."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from arbiter_core.minion import Minion
from arbiter_core.minion.app_loading import AppLoadingError, load_minion

ONE = """
from arbiter_core.minion import Minion

app = Minion("memory://{name}")


@app.task(name="add")
def add(x, y):
    return x + y
"""

TWO = """
from arbiter_core.minion import Minion

alpha = Minion("memory://{name}-a")
beta = Minion("memory://{name}-b")


class Holder:
    minion = beta
"""


@pytest.fixture
def write_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], str]]:
    """Write a module into the working directory (tmp_path); returns its unique name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    written: list[str] = []

    def write(source: str, relative: str = "") -> str:
        name = f"app_{uuid.uuid4().hex[:8]}"
        path = tmp_path / relative / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source.format(name=name))
        written.append(name)
        return name

    yield write
    for name in list(sys.modules):
        if any(part in name for part in written):
            module = sys.modules.pop(name)
            for value in vars(module).values():
                if isinstance(value, Minion):
                    value.close()


def test_a_module_with_one_minion(write_module: Callable[..., str], tmp_path: Path) -> None:
    name = write_module(ONE)
    minion = load_minion(name)
    assert sys.modules[name].app is minion  # type: ignore[attr-defined]
    assert list(minion.tasks) == ["add"]
    assert sys.path[0] == str(tmp_path), "the working directory goes first on sys.path"


def test_module_colon_attribute_picks_one_of_several(write_module: Callable[..., str]) -> None:
    name = write_module(TWO)
    module_of = sys.modules.get
    assert load_minion(f"{name}:alpha") is module_of(name).alpha  # type: ignore[union-attr]
    assert load_minion(f"{name}:Holder.minion") is module_of(name).beta  # type: ignore[union-attr]


def test_a_file_path_inside_the_working_directory_is_imported_by_its_dotted_name(
    write_module: Callable[..., str],
) -> None:
    name = write_module(ONE, "pkg")
    minion = load_minion(f"pkg/{name}.py")
    assert sys.modules[f"pkg.{name}"].app is minion  # type: ignore[attr-defined]
    assert load_minion(f"./pkg/{name}.py:app") is minion


def test_a_file_path_elsewhere_is_imported_by_its_stem(
    write_module: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = write_module(ONE, "elsewhere")
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    minion = load_minion(str(elsewhere / f"{name}.py"))
    assert sys.modules[name].app is minion  # type: ignore[attr-defined]
    assert sys.path[0] == str(elsewhere)


def test_one_minion_under_two_names_is_one(write_module: Callable[..., str]) -> None:
    name = write_module(ONE + "\nminion = app\n")
    assert load_minion(name) is sys.modules[name].app  # type: ignore[attr-defined]


def test_no_minion_says_how_to_name_one(write_module: Callable[..., str]) -> None:
    name = write_module("x = 1\n")
    with pytest.raises(AppLoadingError, match=rf"'{name}' holds no Minion.*{name}:attribute"):
        load_minion(name)


def test_several_minions_are_named(write_module: Callable[..., str]) -> None:
    name = write_module(TWO)
    with pytest.raises(AppLoadingError) as caught:
        load_minion(name)
    message = str(caught.value)
    assert f"{name}:alpha" in message and f"{name}:beta" in message
    assert f"say which one: {name}:alpha" in message


def test_an_attribute_that_is_missing_or_not_a_minion(write_module: Callable[..., str]) -> None:
    name = write_module(TWO + "\nnumber = 3\n")
    with pytest.raises(AppLoadingError, match=rf"no attribute 'gamma'; it holds {name}:alpha"):
        load_minion(f"{name}:gamma")
    with pytest.raises(AppLoadingError, match=rf"{name}:number is a int, not a Minion"):
        load_minion(f"{name}:number")


def test_a_module_that_cannot_be_imported_says_why(write_module: Callable[..., str]) -> None:
    with pytest.raises(AppLoadingError, match=r"cannot import 'no_such_app_module'.*working dir"):
        load_minion("no_such_app_module")
    broken = write_module("import no_such_dependency_xyz\n")
    with pytest.raises(
        AppLoadingError,
        match=rf"importing '{broken}' failed: ModuleNotFoundError: .*no_such_dependency_xyz",
    ):
        load_minion(broken)
    raising = write_module("raise RuntimeError('the config is wrong')\n")
    with pytest.raises(AppLoadingError) as caught:
        load_minion(raising)
    assert "RuntimeError: the config is wrong" in str(caught.value)
    assert "Traceback" in str(caught.value), "the traceback shows where it raised"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.py", "no such file: 'missing.py'"),
        ("", "is not an app"),
        (":app", "is not an app"),
        ("tasks:", "is not an app"),
    ],
)
def test_bad_specs(write_module: Callable[..., str], spec: str, message: str) -> None:
    with pytest.raises(AppLoadingError, match=message):
        load_minion(spec)


def test_a_path_that_is_not_python(write_module: Callable[..., str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(AppLoadingError, match="not a Python file"):
        load_minion("./notes.txt")
