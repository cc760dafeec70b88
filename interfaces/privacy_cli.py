"""``bytedash keys rotate`` and ``bytedash privacy legacy``: the CLI of the privacy maintenance
(docs/operations.md).

The keys are never given on the command line, where `ps` and shell history would show them:
the new master key is BYTEDASH_MASTER_KEY (the one every process is restarted with), the old one
BYTEDASH_MASTER_KEY_PREVIOUS, or the public development key with ``--from-development-key`` (a
store that ran without BYTEDASH_MASTER_KEY).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg.rows import dict_row

from interfaces.settings import Settings
from worker.secret_transit import DEV_MASTER_KEY


class PrivacyCommandError(Exception):
    """A problem the command names; the CLI prints it and exits 2."""


def add_commands(sub: Any) -> None:
    """Register `keys rotate` and `privacy legacy` on the `bytedash` parser's subcommands."""
    privacy = sub.add_parser("privacy", help="personal data in the event store")
    psub = privacy.add_subparsers(dest="action", required=True, metavar="ACTION")
    legacy = psub.add_parser(
        "legacy",
        help="events holding personal data in clear (written before encryption): what an "
        "erasure cannot reach",
    )
    legacy.add_argument("--org", help="one org only")
    legacy.add_argument(
        "--contact", help="one contact's lineage (with --org), listing the positions"
    )
    legacy.add_argument("--json", action="store_true", help="print JSON lines")
    keys = sub.add_parser("keys", help="master key maintenance")
    ksub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = ksub.add_parser(
        "rotate",
        help="re-wrap every stored key from BYTEDASH_MASTER_KEY_PREVIOUS to BYTEDASH_MASTER_KEY "
        "(resumable, idempotent; events and Temporal payloads are not rewritten)",
    )
    rotate.add_argument(
        "--dry-run", action="store_true", help="count and check the keys, change nothing"
    )
    rotate.add_argument(
        "--batch-size", type=_positive, default=500, metavar="N", help="keys per transaction"
    )
    rotate.add_argument(
        "--from-development-key",
        action="store_true",
        help="the old key is the public development key (the store ran without "
        "BYTEDASH_MASTER_KEY); BYTEDASH_MASTER_KEY_PREVIOUS must then be unset",
    )


def _database_problem(error: psycopg.Error) -> PrivacyCommandError:
    """A database that cannot be reached or is not migrated, said in one line."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, psycopg.errors.UndefinedTable):
        return PrivacyCommandError(f"the database is not migrated ({first}): run bytedash migrate")
    return PrivacyCommandError(
        f"could not use the database ({first}): check DATABASE_URL, or that `bytedash up` runs"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def rotate(args: argparse.Namespace, settings: Settings, database_url: str) -> int:
    from worker.privacy_tools import RotationError, TableRotation, rotate_master_key

    if settings.master_key is None:
        raise PrivacyCommandError(
            "BYTEDASH_MASTER_KEY is not set: set it to the new master key (base64 of 32 random "
            "bytes: openssl rand -base64 32)"
        )
    previous = settings.previous_master_key_bytes()
    if args.from_development_key:
        if previous is not None:
            raise PrivacyCommandError(
                "--from-development-key and BYTEDASH_MASTER_KEY_PREVIOUS name two old keys; "
                "give one"
            )
        previous = DEV_MASTER_KEY
    if previous is None:
        raise PrivacyCommandError(
            "BYTEDASH_MASTER_KEY_PREVIOUS is not set: set it to the master key the keys are "
            "wrapped with now (or pass --from-development-key if the store ran without "
            "BYTEDASH_MASTER_KEY)"
        )

    def progress(report: TableRotation) -> None:
        print(f"  {report.table}: {report.rewrapped} so far", file=sys.stderr)

    try:
        reports = rotate_master_key(
            database_url,
            previous,
            settings.master_key_bytes(),
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            progress=progress,
        )
    except RotationError as e:
        raise PrivacyCommandError(str(e)) from None
    except psycopg.Error as e:
        raise _database_problem(e) from None
    verb = "to re-wrap" if args.dry_run else "re-wrapped"
    trouble = False
    for report in reports:
        line = (
            f"{report.table}: {report.rewrapped} {verb}, {report.destroyed_moved} destroyed "
            f"(fingerprint {'to move' if args.dry_run else 'moved'})"
        )
        if report.unopenable:
            trouble = True
            line += f"; {len(report.unopenable)} do not open with the old key: " + ", ".join(
                report.unopenable[:10]
            )
        if report.other_key:
            trouble = True
            line += f"; {report.other_key} wrapped by neither key (left as they are)"
        print(line)
    if args.dry_run:
        print("dry run: nothing changed")
    elif not trouble:
        print(
            "done: every key is wrapped by the new master key; restart the processes without "
            "BYTEDASH_MASTER_KEY_PREVIOUS"
        )
    return 1 if trouble else 0


def legacy(args: argparse.Namespace, database_url: str) -> int:
    from worker.privacy_tools import clear_events

    if args.contact is not None:
        if args.org is None:
            raise PrivacyCommandError("--contact needs --org (a contact is found within its org)")
        try:
            uuid.UUID(args.contact)
        except ValueError:
            raise PrivacyCommandError(f"--contact {args.contact!r} is not a contact id") from None
    try:
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            found = clear_events(conn, org_id=args.org, contact_id=args.contact)
    except psycopg.Error as e:
        raise _database_problem(e) from None
    if args.json:
        for item in found:
            print(json.dumps(asdict(item)))
        return 0
    if not found:
        print("no event holds personal data in clear")
        return 0
    for item in found:
        line = (
            f"{item.org_id}  {item.event_type}: {item.events} events of {item.aggregates} "
            f"aggregates, positions {item.first_position}-{item.last_position}"
        )
        if item.positions:
            line += " (" + ", ".join(str(p) for p in item.positions) + ")"
        print(line)
    total = sum(item.events for item in found)
    print(
        f"{total} events hold personal data in clear; an erasure does not reach them "
        '(docs/operations.md, "Events written in clear")'
    )
    return 0
