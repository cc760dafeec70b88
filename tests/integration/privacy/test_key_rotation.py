"""`bytedash keys rotate`: every wrapped key (org secret keys, contact keys, Temporal payload
keys) moves from the old master key to the new one, resumably, while processes holding both keep
reading everything; afterwards the new key alone opens it all, and nothing else changed."""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore
from temporalio.api.common.v1 import Payload

from application.bundle import build_services
from application.privacy.codec import SealingCodec
from application.privacy.keys import ContactKeys
from application.privacy.master import MasterKeys
from application.privacy.payload_keys import PayloadKeyError, PayloadKeys
from application.privacy.rotate import rotate_master_key
from application.secrets import SecretStore, SecretStoreError, master_key_id
from interfaces.cli import CommandLineError, build_parser

OLD = bytes(range(1, 33))
NEW = bytes(range(101, 133))
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def datastore(database_url: str) -> Iterator[PostgresDatastore]:
    services = build_services(database_url, pool_size=2)
    yield services.store.datastore
    services.close()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    *args: str,
    **env: str,
) -> Ran:
    """`bytedash keys rotate ARGS` as the command line runs it, in this process (a subprocess
    costs seconds of start-up per run)."""
    with monkeypatch.context() as patched:
        for name in ("BYTEDASH_MASTER_KEY", "BYTEDASH_MASTER_KEY_PREVIOUS"):
            patched.delenv(name, raising=False)
        for name, value in {"DATABASE_URL": database_url, **env}.items():
            patched.setenv(name, value)
        parsed = build_parser().parse_args(["keys", "rotate", *args])
        try:
            code = parsed.func(parsed)
        except CommandLineError as e:
            print(f"bytedash: {e}", file=sys.stderr)
            code = 2
    out = capsys.readouterr()
    return Ran(code, out.out, out.err)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _fingerprints(database_url: str) -> dict[str, set[str]]:
    with psycopg.connect(database_url) as conn:
        return {
            table: {row[0] for row in conn.execute(f"SELECT master_key_id FROM {table}")}
            for table in ("org_data_keys", "contact_keys", "temporal_payload_keys")
        }


async def test_rotation_rewraps_every_key_resumably_and_both_keys_read_meanwhile(
    database_url: str,
    datastore: PostgresDatastore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A store written under the old key: two orgs' secrets, three contacts (one erased),
    # a workflow's payload key and the shared one, and a payload sealed with each.
    for org in ("acme", "globex"):
        SecretStore(datastore, OLD).put(
            org, "API_TOKEN", f"token-of-{org}", revision=1, set_by="u", set_at=NOW
        )
    old_contacts = ContactKeys(datastore, OLD)
    contacts = [uuid.uuid4() for _ in range(3)]
    contact_keys = {c: old_contacts.key_for("acme", c) for c in contacts}
    old_contacts.destroy("acme", contacts[2], "user:dpo", "Art. 17", NOW)
    old_payloads = PayloadKeys.connect(database_url, MasterKeys(OLD))
    sealed: list[Payload] = []
    try:
        for workflow_id in ("execution-1", "definition-create-1"):
            codec = SealingCodec(old_payloads, workflow_id)
            sealed += await codec.encode(
                [Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')]
            )
    finally:
        await old_payloads.close()
    before = _fingerprints(database_url)
    assert before == {t: {master_key_id(OLD)} for t in before}

    # The new key alone cannot read the store yet; the CLI refuses without the old key.
    with pytest.raises(SecretStoreError, match="BYTEDASH_MASTER_KEY"):
        SecretStore(datastore, NEW).values("acme", ["API_TOKEN"])
    new_only = PayloadKeys.connect(database_url, MasterKeys(NEW))
    try:
        with pytest.raises(PayloadKeyError, match="BYTEDASH_MASTER_KEY_PREVIOUS"):
            await SealingCodec(new_only).decode(sealed[:1])
    finally:
        await new_only.close()
    refused = _cli(monkeypatch, capsys, database_url, BYTEDASH_MASTER_KEY=_b64(NEW))
    assert refused.returncode == 2
    assert "BYTEDASH_MASTER_KEY_PREVIOUS is not set" in refused.stderr

    # A dry run counts and changes nothing.
    dry = _cli(
        monkeypatch,
        capsys,
        database_url,
        "--dry-run",
        BYTEDASH_MASTER_KEY=_b64(NEW),
        BYTEDASH_MASTER_KEY_PREVIOUS=_b64(OLD),
    )
    assert dry.returncode == 0, dry.stderr
    assert "org_data_keys: 2 to re-wrap" in dry.stdout
    assert "contact_keys: 2 to re-wrap, 1 destroyed" in dry.stdout
    assert "temporal_payload_keys: 2 to re-wrap" in dry.stdout
    assert _fingerprints(database_url) == before

    # Interrupted after its first batch of one key.
    class StoppedError(Exception):
        pass

    def stop(report: Any) -> None:
        raise StoppedError

    with pytest.raises(StoppedError):
        rotate_master_key(database_url, OLD, NEW, batch_size=1, progress=stop)
    halfway = _fingerprints(database_url)
    assert halfway["org_data_keys"] == {master_key_id(OLD), master_key_id(NEW)}

    # Meanwhile a process started with the new key and the previous one reads everything.
    assert SecretStore(datastore, NEW, OLD).values("globex", ["API_TOKEN"]) == {
        "API_TOKEN": "token-of-globex"
    }
    assert SecretStore(datastore, NEW, OLD).values("acme", ["API_TOKEN"]) == {
        "API_TOKEN": "token-of-acme"
    }

    # Resumed to the end by the CLI; a second run finds nothing left to do.
    done = _cli(
        monkeypatch,
        capsys,
        database_url,
        BYTEDASH_MASTER_KEY=_b64(NEW),
        BYTEDASH_MASTER_KEY_PREVIOUS=_b64(OLD),
    )
    assert done.returncode == 0, done.stderr
    assert "org_data_keys: 1 re-wrapped" in done.stdout
    assert "done: every key is wrapped by the new master key" in done.stdout
    again = _cli(
        monkeypatch,
        capsys,
        database_url,
        BYTEDASH_MASTER_KEY=_b64(NEW),
        BYTEDASH_MASTER_KEY_PREVIOUS=_b64(OLD),
    )
    assert again.returncode == 0
    assert "org_data_keys: 0 re-wrapped" in again.stdout
    assert _fingerprints(database_url) == {t: {master_key_id(NEW)} for t in before}

    # The new key alone now opens every key, and they are the same keys as before.
    for org in ("acme", "globex"):
        assert SecretStore(datastore, NEW).values(org, ["API_TOKEN"]) == {
            "API_TOKEN": f"token-of-{org}"
        }
    new_contacts = ContactKeys(datastore, NEW)
    assert new_contacts.key_for("acme", contacts[0], create=False) == contact_keys[contacts[0]]
    assert new_contacts.key_for("acme", contacts[2], create=False) is None  # still erased
    new_payloads = PayloadKeys.connect(database_url, MasterKeys(NEW))
    try:
        opened = await SealingCodec(new_payloads).decode(sealed)
    finally:
        await new_payloads.close()
    assert [p.data for p in opened] == [b'"x"', b'"x"']
