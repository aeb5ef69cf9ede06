"""The Lua scripts: every state change of a queue, record or worker is one atomic script.

Each ``NAME.lua`` beside this file starts with a header listing its KEYS and ARGV.
:func:`source` builds the text Redis runs: the constants of :mod:`arbiter_redis.keys`
as Lua locals, the shared helpers of ``lib.lua``, then the script. :class:`Scripts`
registers them on a client as redis-py ``Script`` objects, which call EVALSHA and
load the script again on NOSCRIPT (after a server restart or SCRIPT FLUSH).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

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
    "heartbeat",
    "live_workers",
    "remove_worker",
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


@cache
def source(name: str) -> str:
    """The full text of script ``name`` as Redis runs it."""
    if name not in NAMES:
        raise ValueError(f"no Lua script named {name!r}; there are: {', '.join(NAMES)}")
    constants = "".join(f"local {key} = {value}\n" for key, value in _CONSTANTS.items())
    return f"{constants}{_read('lib')}\n{_read(name)}"


class Scripts:
    """The scripts registered on one client; call as ``scripts.pull(keys=..., args=...)``."""

    def __init__(self, client: redis.Redis) -> None:
        self.push = self._register(client, "push")
        self.pull = self._register(client, "pull")
        self.ack = self._register(client, "ack")
        self.nack = self._register(client, "nack")
        self.renew = self._register(client, "renew")
        self.dead_letter = self._register(client, "dead_letter")
        self.transition = self._register(client, "transition")
        self.transition_and_push = self._register(client, "transition_and_push")
        self.transition_and_push_many = self._register(client, "transition_and_push_many")
        self.transition_and_ack = self._register(client, "transition_and_ack")
        self.heartbeat = self._register(client, "heartbeat")
        self.live_workers = self._register(client, "live_workers")
        self.remove_worker = self._register(client, "remove_worker")

    @staticmethod
    def _register(client: redis.Redis, name: str) -> Any:
        # Script objects are typed loosely by redis-py; they are callables returning Any.
        return client.register_script(source(name))
