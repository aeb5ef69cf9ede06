"""The Lua scripts: every state change of a queue, record or worker is one atomic script.

Each ``NAME.lua`` beside this file starts with a header listing its KEYS and ARGV.
:func:`source` builds the text Redis runs: the constants of :mod:`arbiter_redis.keys`
(and the states and event of :mod:`arbiter_core.node.burial`) as Lua locals, the shared
helpers of ``lib.lua``, then the script. :class:`Scripts`
registers them on a client as :class:`LuaScript` objects, which call EVALSHA and
load the script again on NOSCRIPT (after a server restart or SCRIPT FLUSH).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from arbiter_core.node import BURIED_EVENT, DEAD, FINAL_STATES, REQUEUED
from arbiter_redis import keys

if TYPE_CHECKING:
    import redis

NAMES = (
    "push",
    "pull",
    "ack",
    "nack",
    "renew",
    "dead_letter",
    "transition",
    "transition_and_push",
    "transition_and_push_many",
    "transition_and_ack",
    "transition_ack_and_pull",
    "transition_push_ack_and_pull",
    "heartbeat",
    "live_workers",
    "remove_worker",
    "stats",
    "purge",
    "requeue",
)

SETTLE_BATCH = 1000
"""Most due or expired messages one script call moves, so no call blocks Redis for long."""

_CONSTANTS = {
    "WAKE_TOKENS_MAX": keys.WAKE_TOKENS_MAX,
    "WAKE_TTL_MS": keys.WAKE_TTL_MS,
    "DEAD_LETTER_LIMIT": keys.DEAD_LETTER_LIMIT,
    "DEAD_LETTER_TTL_MS": keys.DEAD_LETTER_TTL_MS,
    "SETTLE_BATCH": SETTLE_BATCH,
}


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


_STRINGS = {
    # what burial writes and announces, and requeue revives: see arbiter_core.node.burial
    "DEAD_STATE": DEAD,
    "BURIED_EVENT": BURIED_EVENT,
    "REQUEUED_STATE": REQUEUED,
}


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _constants() -> str:
    lines = [f"local {key} = {value}\n" for key, value in _CONSTANTS.items()]
    lines += [f"local {key} = {_lua_string(value)}\n" for key, value in _STRINGS.items()]
    finals = ", ".join(f"[{_lua_string(state)}] = true" for state in sorted(FINAL_STATES))
    lines.append(f"local FINAL_STATES = {{ {finals} }}\n")
    return "".join(lines)


@cache
def source(name: str) -> str:
    """The full text of script ``name`` as Redis runs it."""
    if name not in NAMES:
        raise ValueError(f"no Lua script named {name!r}; there are: {', '.join(NAMES)}")
    return f"{_constants()}{_read('lib')}\n{_read(name)}"


class LuaScript:
    """One script on one client: EVALSHA, loading the script on NOSCRIPT.

    Leaner than redis-py's ``Script``, and it can be queued on a pipeline without the
    ``SCRIPT EXISTS`` round trip redis-py's pipelines send first: a pipeline whose
    EVALSHA fails with NOSCRIPT raises, and the caller runs the script again directly.
    """

    def __init__(self, client: redis.Redis, name: str) -> None:
        from redis.exceptions import NoScriptError  # noqa: PLC0415 - redis is optional

        self.name = name
        self.text = source(name)
        self.sha = hashlib.sha1(self.text.encode("utf-8")).hexdigest()
        self._client: Any = client
        self._missing = NoScriptError

    def __call__(self, *, keys: Sequence[Any], args: Sequence[Any] = ()) -> Any:
        try:
            return self._client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except self._missing:
            self._client.script_load(self.text)
            return self._client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    def queue(self, pipe: Any, *, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Add a call to ``pipe`` (which raises NoScriptError if the server lacks it)."""
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


class Scripts:
    """The scripts registered on one client; call as ``scripts.pull(keys=..., args=...)``."""

    def __init__(self, client: redis.Redis) -> None:
        self.push = LuaScript(client, "push")
        self.pull = LuaScript(client, "pull")
        self.ack = LuaScript(client, "ack")
        self.nack = LuaScript(client, "nack")
        self.renew = LuaScript(client, "renew")
        self.dead_letter = LuaScript(client, "dead_letter")
        self.transition = LuaScript(client, "transition")
        self.transition_and_push = LuaScript(client, "transition_and_push")
        self.transition_and_push_many = LuaScript(client, "transition_and_push_many")
        self.transition_and_ack = LuaScript(client, "transition_and_ack")
        self.transition_ack_and_pull = LuaScript(client, "transition_ack_and_pull")
        self.transition_push_ack_and_pull = LuaScript(client, "transition_push_ack_and_pull")
        self.heartbeat = LuaScript(client, "heartbeat")
        self.live_workers = LuaScript(client, "live_workers")
        self.remove_worker = LuaScript(client, "remove_worker")
        self.stats = LuaScript(client, "stats")
        self.purge = LuaScript(client, "purge")
        self.requeue = LuaScript(client, "requeue")
