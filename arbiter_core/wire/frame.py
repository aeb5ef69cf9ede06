"""The bytes on the broker: a small header, an optional HMAC, then the encoded envelope.

Layout (all lengths in bytes)::

    b"ARB" | version (1) | flags (1) | len(content type) (1) | content type
          | HMAC-SHA256 (32, present when flags & SIGNED) | payload

The HMAC covers everything except itself. With a secret configured, an unsigned
or badly signed frame is rejected; pickle is refused unless the frame is signed
and verified, so a broker can never become a path to code execution.

Several secrets make key rotation possible without stopping: the first signs, and a
frame signed with any of them verifies (each compared in constant time), so a new
key can sign while messages signed with the old one still run. Envelopes are also
held to the :class:`~arbiter_core.wire.limits.Limits` both ways.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from arbiter_core.errors import (
    ConfigurationError,
    LimitExceededError,
    MessageRejected,
    SerializationError,
)
from arbiter_core.node.arguments import require_name
from arbiter_core.wire.codecs import CODECS, codec_for, short_repr
from arbiter_core.wire.envelope import Envelope
from arbiter_core.wire.limits import Limits
from arbiter_core.wire.tagged_json import CONTENT_TYPE as TAGGED_JSON

MAGIC = b"ARB"
FRAME_VERSION = 1
SIGNED = 0x01
_DIGEST = 32
_JSON_TEXT = frozenset({"json", TAGGED_JSON})
"""Content types written as JSON text, where a nesting level takes a ``[`` or ``{``."""
_JSON_LABELS = frozenset(ctype.encode() for ctype in _JSON_TEXT)


class WireFormat:
    """Encodes and decodes envelopes and results under one node's settings."""

    def __init__(
        self,
        serializer: str = "json",
        signing_secret: str | bytes | None = None,
        accept: Collection[str] | None = None,
        *,
        signing_secrets: Sequence[str | bytes] = (),
        limits: Limits | None = None,
    ) -> None:
        """``signing_secrets``: the key that signs first, then the others that verify
        (``signing_secret`` is the one-key form; give one or the other)."""
        self.codec = codec_for(serializer)
        if signing_secret and signing_secrets:
            raise ConfigurationError("give signing_secret or signing_secrets, not both")
        secrets = [signing_secret] if signing_secret else list(signing_secrets)
        self._keys = tuple(key.encode() if isinstance(key, str) else key for key in secrets)
        if not all(self._keys):
            raise ConfigurationError("a signing secret must not be empty")
        self._key = self._keys[0] if self._keys else None
        self.limits = Limits() if limits is None else limits
        if serializer == "pickle" and not self._key:
            raise ConfigurationError(
                "the pickle serializer needs a signing secret (signing_secret / "
                "ARBITER_SIGNING_SECRET): unsigned pickle lets anyone who can write to the "
                "broker run code on your workers"
            )
        accepted = {"json", serializer} if accept is None else set(accept)
        if "json" in accepted:  # the json serializer writes json+tags for richer values
            accepted.add(TAGGED_JSON)
        self.accept = frozenset(accepted)
        unknown = self.accept - set(CODECS)
        if unknown:
            raise ConfigurationError(f"unknown content type(s) to accept: {sorted(unknown)}")

    @property
    def signing(self) -> bool:
        return bool(self._key)

    @property
    def verifying_keys(self) -> int:
        """How many secrets verify (0 when signing is off): what a banner may show."""
        return len(self._keys)

    def encode(self, envelope: Envelope) -> bytes:
        """Frame an envelope, refusing up front what a worker could not take.

        An argument or header that will not encode is a SerializationError naming it
        (``task 't': args[1]['when']: date value ...``); a task name, queue, id or
        reply address that is not a non-empty str encoding as UTF-8 is a ValueError
        (TypeError if not a str); a keyword argument named by a non-str is a
        SerializationError too.
        """
        require_name(envelope.task, "task name")
        limits = self.limits
        too_long = limits.name_too_long(envelope.task)
        if too_long:
            raise LimitExceededError(f"task {envelope.task[:40]!r}...: {too_long}")
        require_name(envelope.queue, "queue name")
        require_name(envelope.id, "task id")
        if envelope.reply_to:
            require_name(envelope.reply_to, "reply_to")
        for key in envelope.kwargs:
            if not isinstance(key, str):
                raise SerializationError(
                    f"task {envelope.task!r}: kwargs[{short_repr(key)}] (key): keyword "
                    f"argument names must be str, not {type(key).__name__}"
                )
        try:
            ctype, payload = self.codec.encode(envelope.to_dict())
        except SerializationError as exc:
            raise SerializationError(
                f"task {envelope.task!r}: {self._culprit(envelope, exc)}"
            ) from exc
        framed = 6 + len(ctype) + (_DIGEST if self._key else 0) + len(payload)
        too_big = limits.message_too_big(framed)
        if too_big:
            raise LimitExceededError(
                f"task {envelope.task!r}: {too_big}; pass a reference to big data (a path, "
                "a URL, a key) instead, or raise the limit"
            )
        json_payload = payload if ctype in _JSON_TEXT else None
        too_deep = limits.too_deep(envelope.args, envelope.kwargs, json_payload)
        if too_deep:
            raise LimitExceededError(f"task {envelope.task!r}: {too_deep}")
        return self.frame(payload, ctype)

    def _culprit(self, envelope: Envelope, error: SerializationError) -> str:
        """Why an envelope does not encode, naming the argument (``args[i]``,
        ``kwargs['k']``) or ``headers``: each is encoded alone to find it."""
        parts = [(f"args[{i}]", arg) for i, arg in enumerate(envelope.args)]
        parts += [(f"kwargs[{short_repr(key)}]", arg) for key, arg in envelope.kwargs.items()]
        parts.append(("headers", dict(envelope.headers)))
        for name, part in parts:
            try:
                self.codec.dumps(part, name)
            except SerializationError as culprit:
                return str(culprit)
        return f"the envelope cannot be encoded ({error})"  # e.g. nested too deeply only as a whole

    def pack(self, value: Any, name: str = "value") -> bytes:
        """Frame any value (a task record, a result) with this format's codec and signature."""
        ctype, payload = self.codec.encode(value, name)
        return self.frame(payload, ctype)

    def unpack(self, data: bytes) -> Any:
        """Verify and decode what :meth:`pack` produced; MessageRejected otherwise."""
        return self.unframe(data)

    def too_deep(self, data: bytes, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
        """Why the ``args`` and ``kwargs`` a frame ``data`` carries (an RPC request) nest
        deeper than the limit, or None; a JSON frame with few brackets is not walked."""
        json_frame = len(data) >= 6 and bytes(data[6 : 6 + data[5]]) in _JSON_LABELS
        return self.limits.too_deep(args, kwargs, data if json_frame else None)

    def frame(self, payload: bytes, content_type: str | None = None) -> bytes:
        """Header, signature and ``payload``, labelled ``content_type`` (the codec's by default)."""
        ctype = (content_type or self.codec.content_type).encode()
        flags = SIGNED if self._key else 0
        header = MAGIC + bytes((FRAME_VERSION, flags, len(ctype))) + ctype
        if not self._key:
            return header + payload
        digest = hmac.new(self._key, header + payload, hashlib.sha256).digest()
        return header + digest + payload

    def decode(self, data: bytes) -> Envelope:
        """Verify and decode a frame; every problem is a :class:`MessageRejected` with a reason.

        Held to the limits: the size before anything else, the task name and the
        arguments' nesting once decoded.
        """
        limits = self.limits
        if isinstance(data, (bytes, bytearray)) and len(data) > limits.max_message_size:
            raise MessageRejected(str(limits.message_too_big(len(data))))
        envelope = Envelope.from_dict(self.unframe(data))
        json_frame = bytes(data[6 : 6 + data[5]]) in _JSON_LABELS
        problem = limits.name_too_long(envelope.task) or limits.too_deep(
            envelope.args, envelope.kwargs, data if json_frame else None
        )
        if problem:
            raise MessageRejected(problem)
        return envelope

    def unframe(self, data: bytes) -> Any:
        if not isinstance(data, (bytes, bytearray)) or len(data) < 6 or data[:3] != MAGIC:
            raise MessageRejected("not an arbiter message (bad magic bytes)")
        version, flags, clen = data[3], data[4], data[5]
        if version != FRAME_VERSION:
            raise MessageRejected(f"unsupported frame version {version}")
        end = 6 + clen
        ctype = bytes(data[6:end]).decode("ascii", "replace")
        signed = bool(flags & SIGNED)
        digest = bytes(data[end : end + _DIGEST]) if signed else b""
        payload = bytes(data[end + _DIGEST :] if signed else data[end:])
        if signed and len(digest) < _DIGEST:
            raise MessageRejected("truncated signature")
        if self._key:
            if not signed:
                raise MessageRejected("unsigned message, but this node requires signatures")
            if not self._verifies(bytes(data[:end]) + payload, digest):
                raise MessageRejected("bad signature (forged, or signed with another secret)")
        if ctype not in self.accept:
            raise MessageRejected(f"content type {ctype!r} is not accepted here")
        if ctype == "pickle" and not (self._key and signed):
            raise MessageRejected("pickle is only accepted on signed, verified messages")
        try:
            return CODECS[ctype].loads(payload)
        except Exception as exc:  # any decoding failure rejects the message
            raise MessageRejected(f"payload does not decode as {ctype}: {exc}") from exc

    def _verifies(self, signed: bytes, digest: bytes) -> bool:
        """Whether any key's HMAC of ``signed`` is ``digest``, each compared in constant time."""
        for key in self._keys:
            expected = hmac.new(key, signed, hashlib.sha256).digest()
            if hmac.compare_digest(expected, digest):
                return True
        return False
