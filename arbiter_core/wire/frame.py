"""The bytes on the broker: a small header, an optional HMAC, then the encoded envelope.

Layout (all lengths in bytes)::

    b"ARB" | version (1) | flags (1) | len(content type) (1) | content type
          | HMAC-SHA256 (32, present when flags & SIGNED) | payload

The HMAC covers everything except itself. With a secret configured, an unsigned
or badly signed frame is rejected; pickle is refused unless the frame is signed
and verified, so a broker can never become a path to code execution.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from typing import Any

from arbiter_core.errors import ConfigurationError, MessageRejected, SerializationError
from arbiter_core.node.arguments import require_name
from arbiter_core.wire.codecs import CODECS, codec_for, short_repr
from arbiter_core.wire.envelope import Envelope

MAGIC = b"ARB"
FRAME_VERSION = 1
SIGNED = 0x01
_DIGEST = 32


class WireFormat:
    """Encodes and decodes envelopes and results under one node's settings."""

    def __init__(
        self,
        serializer: str = "json",
        signing_secret: str | bytes | None = None,
        accept: Collection[str] | None = None,
    ) -> None:
        self.codec = codec_for(serializer)
        self._key = signing_secret.encode() if isinstance(signing_secret, str) else signing_secret
        if serializer == "pickle" and not self._key:
            raise ConfigurationError(
                "the pickle serializer needs a signing secret (signing_secret / "
                "ARBITER_SIGNING_SECRET): unsigned pickle lets anyone who can write to the "
                "broker run code on your workers"
            )
        self.accept = frozenset(accept) if accept is not None else frozenset({"json", serializer})
        unknown = self.accept - set(CODECS)
        if unknown:
            raise ConfigurationError(f"unknown content type(s) to accept: {sorted(unknown)}")

    @property
    def signing(self) -> bool:
        return bool(self._key)

    def encode(self, envelope: Envelope) -> bytes:
        """Frame an envelope, refusing up front what a worker could not take.

        An argument or header that will not encode is a SerializationError naming it
        (``task 't': args[1]['when']: date value ...``); a task name, queue, id or
        reply address that is not a non-empty str encoding as UTF-8 is a ValueError
        (TypeError if not a str); a keyword argument named by a non-str is a
        SerializationError too.
        """
        require_name(envelope.task, "task name")
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
            payload = self.codec.dumps(envelope.to_dict())
        except SerializationError as exc:
            raise SerializationError(
                f"task {envelope.task!r}: {self._culprit(envelope, exc)}"
            ) from exc
        return self.frame(payload)

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
        return self.frame(self.codec.dumps(value, name))

    def unpack(self, data: bytes) -> Any:
        """Verify and decode what :meth:`pack` produced; MessageRejected otherwise."""
        return self.unframe(data)

    def frame(self, payload: bytes) -> bytes:
        ctype = self.codec.content_type.encode()
        flags = SIGNED if self._key else 0
        header = MAGIC + bytes((FRAME_VERSION, flags, len(ctype))) + ctype
        if not self._key:
            return header + payload
        digest = hmac.new(self._key, header + payload, hashlib.sha256).digest()
        return header + digest + payload

    def decode(self, data: bytes) -> Envelope:
        """Verify and decode a frame; every problem is a :class:`MessageRejected` with a reason."""
        return Envelope.from_dict(self.unframe(data))

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
            expected = hmac.new(self._key, bytes(data[:end]) + payload, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, digest):
                raise MessageRejected("bad signature (forged, or signed with another secret)")
        if ctype not in self.accept:
            raise MessageRejected(f"content type {ctype!r} is not accepted here")
        if ctype == "pickle" and not (self._key and signed):
            raise MessageRejected("pickle is only accepted on signed, verified messages")
        try:
            return CODECS[ctype].loads(payload)
        except Exception as exc:  # any decoding failure rejects the message
            raise MessageRejected(f"payload does not decode as {ctype}: {exc}") from exc
