"""The wire format: envelopes, codecs (JSON; pickle only signed) and HMAC-signed frames."""

from arbiter_core.wire.codecs import CODECS, Codec, JsonCodec, PickleCodec, codec_for
from arbiter_core.wire.envelope import ENVELOPE_VERSION, Envelope, new_task_id
from arbiter_core.wire.frame import WireFormat

__all__ = [
    "CODECS",
    "ENVELOPE_VERSION",
    "Codec",
    "Envelope",
    "JsonCodec",
    "PickleCodec",
    "WireFormat",
    "codec_for",
    "new_task_id",
]
