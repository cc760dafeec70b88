"""Faults under load: nothing accepted is lost or done twice.

Clients create contacts through the real API, each command with an Idempotency-Key of its own,
and resend it (same key, same body) on a 5xx, a 429, a timeout or a dropped connection, as a
real client does, until it is accepted. Meanwhile the suite SIGKILLs the worker, the projector
and the API (``bytedash up`` restarts each), restarts Postgres, kills and restarts the Temporal
server, and holds Postgres down for FAULTS_OUTAGE_SECONDS (default 120 s). That is longer than
the ten attempts after which a command used to be lost (about 45 s of backoff plus a 5 s wait
for a connection per attempt) and than every pool's reconnect window, though not than the five
minutes a command's activity now retries for (``worker/workflows/commands.py``, not a setting;
FAULTS_OUTAGE_SECONDS may be raised past it). Then, per idempotency key: one
accepted command, one ``Contact.Created`` event, one read row; no contact that no client asked
for; every read model equal to a fresh rebuild; the hash chain intact.

It runs the whole stack on its own embedded Postgres and Temporal (``stack.FaultStack``), never
on the machine's shared Postgres, so it may stop them at will.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from projections import default_projections
from projections.admin import verify_projection
from tests.integration.faults.stack import ROOT, FaultStack, bytedash, until

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = float(os.environ.get("FAULTS_OUTAGE_SECONDS", "120"))
CLIENTS = 5
# Pause between one client's commands: a modest, steady load (about 10 commands a second).
PAUSE = 0.25
# A client gives up on a key only after this long: far longer than any fault lasts.
GIVE_UP_AFTER = OUTAGE_SECONDS + 120


@dataclass
class Ledger:
    """What the clients were told, per idempotency key."""

    accepted: dict[str, str] = field(default_factory=dict)  # key -> contact id
    # key -> (path, body, the status URL its 202 pointed at): what a client keeps to follow up
    sent: dict[str, tuple[str, dict[str, str], str | None]] = field(default_factory=dict)
    reruns: int = 0  # commands found failed at their status URL and sent again
    refused: dict[str, str] = field(default_factory=dict)  # key -> the 4xx answer
    unanswered: list[str] = field(default_factory=list)  # given up
    resends: int = 0
    answers: dict[int, int] = field(default_factory=dict)  # status -> count
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client(threading.Thread):
    """Sends create-contact commands one after another until told to stop; each until it is
    accepted or refused."""

    def __init__(self, name: str, base: str, token: str, ledger: Ledger, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.base, self.ledger, self.stop_sending = base, ledger, stop
        self.headers = {"Authorization": f"Bearer {token}"}

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as http:
            n = 0
            while not self.stop_sending.is_set():
                n += 1
                self.send(http, f"{self.name}-{n}-{uuid.uuid4()}", n)
                time.sleep(PAUSE)

    def send(self, http: httpx.Client, key: str, n: int) -> None:
        body = {"first_name": f"{self.name}-{n}", "email": f"{self.name}.{n}@example.com"}
        # Every third command waits for its write to show (201), through the read side.
        path = "/api/v1/contacts?wait=true" if n % 3 == 0 else "/api/v1/contacts"
        self.resend(http, key, path, body)

    def resend(self, http: httpx.Client, key: str, path: str, body: dict[str, str]) -> None:
        """Send the command until it is accepted or refused, resending as clients do."""
        headers = {**self.headers, "Idempotency-Key": key}
        deadline = time.monotonic() + GIVE_UP_AFTER
        first = True
        while time.monotonic() < deadline:
            if not first:
                with self.ledger.lock:
                    self.ledger.resends += 1
            first = False
            try:
                answer = http.post(path, json=body, headers=headers)
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            with self.ledger.lock:
                self.ledger.answers[answer.status_code] = (
                    self.ledger.answers.get(answer.status_code, 0) + 1
                )
            if answer.status_code in (201, 202):
                with self.ledger.lock:
                    self.ledger.accepted[key] = answer.json()["id"]
                    self.ledger.sent[key] = (path, body, answer.json().get("status_url"))
                return
            if answer.status_code >= 500 or answer.status_code == 429:
                time.sleep(0.5)
                continue
            with self.ledger.lock:
                self.ledger.refused[key] = f"{answer.status_code} {answer.text}"
            return
        with self.ledger.lock:
            self.ledger.unanswered.append(key)


class Reader(threading.Thread):
    """Reads a list every 0.2 s, noting when each answer came and whether it was a 200."""

    def __init__(self, base: str, token: str, stop: threading.Event) -> None:
        super().__init__(name="reader", daemon=True)
        self.base, self.stop_reading = base, stop
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answers: list[tuple[float, bool]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            while not self.stop_reading.is_set():
                try:
                    ok = http.get("/api/v1/contacts?limit=1", headers=self.headers).is_success
                except httpx.HTTPError:
                    ok = False
                self.answers.append((time.monotonic(), ok))
                time.sleep(0.2)

    def first_success_after(self, moment: float) -> float | None:
        """Seconds from `moment` to the first read served after it, if any."""
        for at, ok in self.answers:
            if at >= moment and ok:
                return at - moment
        return None


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    # Short path: Postgres' Unix socket lives in the folder, and socket paths are short.
    folder = Path(tmp_path_factory.mktemp("faults"))
    running = FaultStack(folder)
    try:
        running.start()
        yield running
    finally:
        running.close()


def _phase(name: str, began: float) -> None:
    print(f"[faults] {time.monotonic() - began:6.1f} s  {name}", flush=True)


def test_nothing_accepted_is_lost_or_doubled_through_kills_restarts_and_an_outage(
    stack: FaultStack,
) -> None:
    org = f"org_faults_{uuid.uuid4().hex[:8]}"
    ledger = Ledger()
    stop = threading.Event()
    clients = [Client(f"c{i}", stack.base, stack.token(org), ledger, stop) for i in range(CLIENTS)]
    # The reader stops on its own event: it must go on until it has seen reads served again
    # after the outage, however quickly the clients' last commands were accepted.
    stop_reading = threading.Event()
    reader = Reader(stack.base, stack.token(org), stop_reading)
    began = time.monotonic()
    for client in clients:
        client.start()
    reader.start()

    def accepted_more(than: int, timeout: float = 60) -> None:
        until(lambda: len(ledger.accepted) > than, timeout, "more commands to be accepted")

    accepted_more(5)
    _phase("SIGKILL worker", began)
    stack.kill_child("worker")
    accepted_more(len(ledger.accepted) + 5)
    _phase("SIGKILL projector", began)
    stack.kill_child("projector")
    accepted_more(len(ledger.accepted) + 5)
    _phase("SIGKILL api", began)
    stack.kill_child("api")
    stack.wait_ready(60)
    accepted_more(len(ledger.accepted) + 5)
    _phase("restart Postgres", began)
    stack.stop_postgres()
    stack.start_postgres()
    accepted_more(len(ledger.accepted) + 5)
    _phase("kill and restart Temporal", began)
    stack.kill_temporal()
    time.sleep(2)
    stack.start_temporal()
    accepted_more(len(ledger.accepted) + 5)
    _phase(f"Postgres down for {OUTAGE_SECONDS:.0f} s", began)
    before_outage = len(ledger.accepted)
    stack.stop_postgres()
    time.sleep(OUTAGE_SECONDS)
    during_outage = len(ledger.accepted) - before_outage
    stack.start_postgres()
    back = time.monotonic()
    _phase("Postgres back", began)
    accepted_more(len(ledger.accepted) + 5)
    _phase("stop the load", began)
    stop.set()
    for client in clients:
        client.join(GIVE_UP_AFTER + 30)
    # Commands are accepted through Temporal while Postgres is down, so the five that ended
    # the load may come within a second of Postgres' return: give reads their own 30 s.
    until(
        lambda: reader.first_success_after(back) is not None or time.monotonic() - back > 30,
        40,
        "a read served after Postgres came back, or 30 s",
    )
    stop_reading.set()
    reader.join(30)

    accepted = ledger.accepted
    print(
        f"[faults] accepted {len(accepted)} ({during_outage} while Postgres was down), "
        f"resends {ledger.resends}, answers {dict(sorted(ledger.answers.items()))}",
        flush=True,
    )
    assert ledger.refused == {} and ledger.unanswered == []
    # Reads are served again within moments of Postgres (the API's pool used to back off for
    # up to a minute after a long outage, answering 503 meanwhile).
    recovered = reader.first_success_after(back)
    print(f"[faults] reads served again {recovered} s after Postgres came back", flush=True)
    assert recovered is not None and recovered < 10
    assert during_outage > 0, "no command was accepted while Postgres was down"

    ids = set(accepted.values())
    assert len(ids) == len(accepted), "two keys named one contact"

    with psycopg.connect(stack.database_url, autocommit=True) as conn:

        def read_rows() -> dict[str, int]:
            rows = conn.execute(
                "SELECT id::text, count(*) FROM contacts WHERE org_id = %s GROUP BY 1", (org,)
            ).fetchall()
            return {row[0]: int(row[1]) for row in rows}

        # Everything accepted is carried out and projected, however long it was held up. A
        # command whose retries ran out (an outage longer than its window) says so at its
        # status URL, and its client sends it again with the same key, as clients do.
        follow_up = Client("follow-up", stack.base, stack.token(org), ledger, threading.Event())
        keys_of = {contact: key for key, contact in accepted.items()}
        checked = [0.0]

        def settled() -> bool:
            missing = ids - set(read_rows())
            if missing and time.monotonic() - checked[0] > 5:
                checked[0] = time.monotonic()
                with httpx.Client(base_url=stack.base, timeout=15) as http:
                    for contact in missing:
                        key = keys_of[contact]
                        path, body, status_url = ledger.sent[key]
                        if status_url is None:
                            continue
                        fate = http.get(status_url, headers=follow_up.headers)
                        if fate.status_code == 200 and fate.json().get("status") == "failed":
                            ledger.reruns += 1
                            follow_up.resend(http, key, path, body)
            return not missing

        until(settled, 240, "every accepted contact in the read model")
        _phase(
            f"all projected, {time.monotonic() - back:.0f} s after Postgres came back "
            f"({ledger.reruns} failed commands sent again)",
            began,
        )

        created = conn.execute(
            "SELECT originator_id::text, count(*) FROM events"
            " WHERE org_id = %s AND event_type LIKE %s AND originator_version = 1"
            " GROUP BY 1",
            (org, "%Created"),
        ).fetchall()
        events = {row[0]: int(row[1]) for row in created}
        assert set(events) == ids, "contacts created that no client was told of, or missing"
        assert set(events.values()) == {1}
        rows = read_rows()
        assert set(rows) == ids and set(rows.values()) == {1}

    # Each read model equals a fresh build from the same events.
    for projection in default_projections():
        verdict = verify_projection(stack.database_url, projection.name)
        assert verdict.ok, (projection.name, verdict)
    # The hash chain links every event, the ones written around the faults included.
    chain = subprocess.run(
        bytedash("events", "verify"),
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert chain.returncode == 0, chain.stdout + chain.stderr

    # up restarted each killed child, and is still running (no crash loop).
    assert stack.up is not None and stack.up.poll() is None
    restarted = {entry["child"] for entry in stack.logged("child.restarted")}
    assert {"worker", "projector", "api"} <= restarted
    _phase("verified", began)
