"""Every ``$ arbiter`` line of docs/operations.md's inspection, dead-letter and mistakes
sections runs, in order, as written, against a throwaway Redis and a minion serving
:data:`cli_support.APP` (``add``, ``sleep``...).

Only ``--broker`` URLs of the local Redis are pointed at the test server, and the example
ids are mapped to the ids the commands really printed (or, for the dead letter, to one
this test makes); the misspelt scheme of the mistakes section stays as it is, and is the
one command expected to fail.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import START_TIMEOUT, AppMinion, CommandLine
from minion_process import registered_pids
from support import wait_until

from arbiter import Arbiter
from arbiter_redis import RedisEventNode

pytestmark = pytest.mark.real_broker

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
SECTIONS = ("## Inspecting and controlling", "## Dead letters", "## Mistakes arbiter warns about")
ID = re.compile(r"\b[0-9a-f]{32}\b")
EXPECTED_FAILURES = {"config --broker reddis://localhost": 1}


def documented_commands() -> list[tuple[list[str], str | None]]:
    """``(arguments, the example id the doc shows it printing, if any)`` per ``$`` line."""
    text = DOC.read_text(encoding="utf-8")
    commands: list[tuple[list[str], str | None]] = []
    for heading in SECTIONS:
        start = text.index(heading)
        end = text.find("\n## ", start + 1)
        lines = [
            line.strip() for line in text[start : end if end != -1 else len(text)].splitlines()
        ]
        for at, line in enumerate(lines):
            if not line.startswith("$ arbiter "):
                continue
            following = lines[at + 1] if at + 1 < len(lines) else ""
            printed = ID.findall(following) if not following.startswith("$") else []
            commands.append((shlex.split(line[2:])[1:], printed[0] if printed else None))
    return commands


@pytest.fixture
def served(
    redis_server: object, redis_namespace: str, tmp_path: Path
) -> Iterator[tuple[CommandLine, RedisEventNode]]:
    url = redis_server.url  # type: ignore[attr-defined]
    minion = AppMinion(tmp_path, url, redis_namespace, "minion")
    node = RedisEventNode(url=url, namespace=redis_namespace)
    try:
        assert wait_until(lambda: minion.pid in registered_pids(node), START_TIMEOUT), (
            minion.output()
        )
        yield CommandLine(url, redis_namespace, tmp_path), node
    finally:
        minion.stop()
        node.close()


def test_the_documented_commands_run_as_written(served: tuple) -> None:
    command_line, node = served
    commands = documented_commands()
    assert len(commands) >= 15, "the sections lost their examples"
    # The dead letter the dead-letter section works on: parked on a queue nobody serves.
    with Arbiter(node) as arbiter:
        [letter_id] = arbiter.apply("add", task_args=[1, 2], queue="parked")
    [delivery] = node.pull("parked", timeout=5, lease=30)
    node.dead_letter(delivery, "an example for the docs")
    ids = {"733d165c9c744e7ba9be4f8bac0fb9f0": letter_id}
    for documented, example_id in commands:
        args = [ids.get(arg, arg) for arg in documented]
        if "--broker" in args:
            at = args.index("--broker") + 1
            if args[at].startswith("redis://localhost"):
                args[at] = command_line.url
        shown = " ".join(args)
        done = command_line(*args, check=EXPECTED_FAILURES.get(shown, 0))
        if example_id is not None and args[0] == "apply":  # later lines use the real id
            printed = ID.findall(done.stdout)
            assert printed, done.stdout
            ids[example_id] = printed[0]
    assert node.queue_size("default") == 0
