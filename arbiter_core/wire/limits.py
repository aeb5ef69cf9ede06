"""Limits on what crosses the broker: message size, result size, nesting, task-name length.

Without them one careless (or hostile) sender can queue a 64 MiB argument that every
queue, lease and dead letter then carries, or a list nested a hundred thousand levels
deep that exhausts a worker's stack. Each limit is a setting (see
:mod:`arbiter_core.settings` for the defaults and why) and is checked twice: at
``apply``, where the caller learns at once (:class:`~arbiter_core.errors.LimitExceededError`
naming the size and the limit), and at the minion, for a message written by another
sender, which is dead-lettered with the reason before anything runs.

The nesting check stays off the hot path: a JSON document cannot nest deeper than it
has ``[`` and ``{`` bytes, so only a message with more brackets than the limit is
walked. Depth counts from each argument (``[1]`` is one level, ``[[1]]`` two).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from arbiter_core.settings import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_NESTING_DEPTH,
    DEFAULT_MAX_RESULT_SIZE,
    DEFAULT_MAX_TASK_NAME_LENGTH,
    MIB,
    Settings,
)

_SEQUENCES = (list, tuple, set, frozenset)


@dataclass(frozen=True, slots=True)
class Limits:
    """The four limits one wire format enforces; the defaults are the settings' defaults."""

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_result_size: int = DEFAULT_MAX_RESULT_SIZE
    max_nesting_depth: int = DEFAULT_MAX_NESTING_DEPTH
    max_task_name_length: int = DEFAULT_MAX_TASK_NAME_LENGTH

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_message_size=settings.max_message_size,
            max_result_size=settings.max_result_size,
            max_nesting_depth=settings.max_nesting_depth,
            max_task_name_length=settings.max_task_name_length,
        )

    def message_too_big(self, size: int) -> str | None:
        """Why a message of ``size`` bytes is refused, or None."""
        if size <= self.max_message_size:
            return None
        limit = _limit("max_message_size", self.max_message_size)
        return f"the message is {bytes_shown(size)}, over the {limit}"

    def result_too_big(self, size: int) -> str | None:
        """Why a record of ``size`` bytes is not stored, or None."""
        if size <= self.max_result_size:
            return None
        limit = _limit("max_result_size", self.max_result_size)
        return f"its result is {bytes_shown(size)} encoded, over the {limit}"

    def name_too_long(self, name: str) -> str | None:
        """Why a task name is refused, or None."""
        if len(name) <= self.max_task_name_length:
            return None
        return (
            f"the task name is {len(name)} characters, over the max_task_name_length limit "
            f"of {self.max_task_name_length} (ARBITER_MAX_TASK_NAME_LENGTH)"
        )

    def too_deep(
        self, args: Iterable[Any], kwargs: Mapping[str, Any], encoded: bytes | None
    ) -> str | None:
        """Why the arguments nest too deeply, naming the first that does, or None.

        ``encoded`` is the message as JSON, or None when it is in another format: a
        JSON message with no more ``[`` and ``{`` than the limit is not walked at all.
        """
        limit = self.max_nesting_depth
        if encoded is not None and encoded.count(b"[") + encoded.count(b"{") <= limit:
            return None
        named = [(f"args[{i}]", arg) for i, arg in enumerate(args)]
        named += [(f"kwargs[{key!r}]", arg) for key, arg in kwargs.items()]
        for name, value in named:
            if nests_deeper(value, limit):
                return (
                    f"{name} nests more than {limit} levels deep, over the max_nesting_depth "
                    "limit (ARBITER_MAX_NESTING_DEPTH)"
                )
        return None


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether lists, tuples, sets and dicts nest more than ``limit`` levels in ``value``.

    Iterative, so no depth exhausts the stack; it stops as soon as it knows, and a
    container met twice (shared, or a cycle, which pickle can carry) is walked once.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen: set[int] = set()
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, _SEQUENCES):
            children = item
        else:
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        depth += 1
        if depth > limit:
            return True
        stack.extend((child, depth) for child in children if isinstance(child, (dict, *_SEQUENCES)))
    return False


def bytes_shown(size: int) -> str:
    """``67,108,960 bytes (64.0 MiB)``: exact, and readable."""
    return f"{size:,} bytes ({size / MIB:.1f} MiB)" if size >= MIB else f"{size:,} bytes"


def _limit(setting: str, size: int) -> str:
    return f"{setting} limit of {bytes_shown(size)} ({'ARBITER_' + setting.upper()})"
