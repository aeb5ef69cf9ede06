"""Key rotation: a list of signing secrets, the first signs and every one verifies.

Unit tests of the wire format and the settings; the rotation across minion and client
generations on a real broker is in tests/distributed/test_signing_rotation.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.config import load_settings, masked
from arbiter_core.errors import ConfigurationError, MessageRejected
from arbiter_core.inspection import WorkerInfo
from arbiter_core.minion import Minion
from arbiter_core.minion.banner import log_banner
from arbiter_core.wire import Envelope, WireFormat


def test_the_first_secret_signs_and_every_one_verifies() -> None:
    rolled = WireFormat(signing_secrets=["new", "old"])
    old_only = WireFormat(signing_secret="old")
    new_only = WireFormat(signing_secrets=["new"])
    signed_old = old_only.encode(Envelope("t", args=(1,)))
    signed_new = rolled.encode(Envelope("t", args=(2,)))

    assert rolled.decode(signed_old).args == (1,), "the old key still verifies"
    assert rolled.decode(signed_new).args == (2,)
    assert new_only.decode(signed_new).args == (2,), "the new key signs"
    with pytest.raises(MessageRejected, match="bad signature"):
        new_only.decode(signed_old)  # once the old key is removed
    with pytest.raises(MessageRejected, match="bad signature"):
        old_only.decode(signed_new)
    assert (rolled.signing, rolled.verifying_keys) == (True, 2)
    assert (WireFormat().signing, WireFormat().verifying_keys) == (False, 0)


def test_a_signing_node_never_takes_an_unsigned_message_whatever_its_keys() -> None:
    unsigned = WireFormat().encode(Envelope("t"))
    for wire in (WireFormat(signing_secret="k"), WireFormat(signing_secrets=["a", "b", "c"])):
        with pytest.raises(MessageRejected, match="unsigned message"):
            wire.decode(unsigned)


def test_records_follow_the_same_keys() -> None:
    packed = WireFormat(signing_secret="old").pack({"result": 1})
    assert WireFormat(signing_secrets=["new", "old"]).unpack(packed) == {"result": 1}
    with pytest.raises(MessageRejected, match="bad signature"):
        WireFormat(signing_secrets=["new"]).unpack(packed)


def test_one_secret_or_a_list_not_both() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        WireFormat(signing_secret="a", signing_secrets=["b"])
    with pytest.raises(ConfigurationError, match="must not be empty"):
        WireFormat(signing_secrets=["a", ""])


def test_the_environment_variable_is_comma_separated() -> None:
    settings = load_settings(environ={"ARBITER_SIGNING_SECRETS": "new-key, old-key"})
    assert settings.signing_secrets == ("new-key", "old-key")
    assert settings.signing_keys == ("new-key", "old-key")
    assert load_settings(environ={"ARBITER_SIGNING_SECRET": "one"}).signing_keys == ("one",)
    assert load_settings(environ={}).signing_keys == ()


def test_a_toml_list_and_an_argument_work_too(tmp_path: Path) -> None:
    (tmp_path / "arbiter.toml").write_text('signing_secrets = ["new", "old"]\n')
    assert load_settings(cwd=tmp_path, environ={}).signing_keys == ("new", "old")
    assert load_settings(signing_secrets=["x"], environ={}).signing_keys == ("x",)


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        (
            {"ARBITER_SIGNING_SECRET": "a", "ARBITER_SIGNING_SECRETS": "b,c"},
            ["both signing_secret", "environment ARBITER_SIGNING_SECRET", "set only"],
        ),
        ({"ARBITER_SIGNING_SECRETS": "new,,old"}, ["ARBITER_SIGNING_SECRETS='***'", "secret 2"]),
    ],
)
def test_mistakes_name_the_setting_and_never_the_secret(
    environ: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert "new" not in message and "old" not in message


def test_a_secret_a_list_could_not_carry_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="comma"):
        load_settings(signing_secrets=["a,b"], environ={})
    with pytest.raises(ConfigurationError, match="list of secrets"):
        load_settings(signing_secrets="just-a-string", environ={})  # type: ignore[arg-type]


def test_pickle_is_allowed_with_a_list_of_secrets() -> None:
    assert load_settings(serializer="pickle", signing_secrets=["k"], environ={}).serializer


def test_config_shows_how_many_secrets_never_which() -> None:
    assert masked("signing_secrets", ("new", "old")) == "*** (2 set)"


def test_the_banner_and_the_heartbeat_say_signing_and_how_many_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Minion("memory://rotation-banner", signing_secrets=["new-secret", "old-secret"])
    with caplog.at_level(logging.INFO, logger="arbiter.minion"):
        log_banner(
            app.worker_id, app.node, app.settings, queue="default", pool="thread", slots=1,
            tasks=[],
        )  # fmt: skip
    [record] = caplog.records
    assert "signing:   on, 2 key(s) verify" in record.getMessage()
    assert (record.__dict__["signing"], record.__dict__["signing_keys"]) == (True, 2)
    assert "secret" not in record.getMessage().replace("signing", "")
    app.close()


def test_worker_info_reads_signing_from_the_heartbeat() -> None:
    info = {"id": "w", "queue": "q", "slots": 1, "busy": 0, "signing": {"on": True, "keys": 2}}
    worker = WorkerInfo.from_heartbeat("w", json.dumps(info).encode())
    assert (worker.signing, worker.signing_keys) == (True, 2)
    assert worker.as_dict()["signing_keys"] == 2
    older = WorkerInfo.from_heartbeat("w", b'{"queue": "q"}')  # a minion before this field
    assert (older.signing, older.signing_keys) == (None, None)


def test_an_arbiter_with_two_keys_reads_what_a_one_key_minion_wrote() -> None:
    client = Arbiter("memory://rotation-read", signing_secrets=["new", "old"])
    assert client.wire.verifying_keys == 2
    client.close()
