"""The ``bytedash`` command line: one program, one subcommand per process or admin task.

argparse rather than a CLI framework: the commands are few and flat, and argparse's error
messages already name the bad option. Every command builds its objects here (the composition
root for processes) from ``Settings``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import structlog

from interfaces import privacy_cli
from interfaces.heap import YOUNG_THRESHOLD_BATCHES
from interfaces.heap import settle as settle_heap
from interfaces.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = structlog.get_logger(__name__)

ROLES = ("owner", "admin", "member", "viewer")


class CommandLineError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def _settings() -> Settings:
    from interfaces.logging import configure_logging
    from projections.personal import hold_master_keys

    try:
        settings = Settings()
    except ValueError as e:
        raise CommandLineError(f"configuration: {e}") from None
    configure_logging(settings.log_format)
    # Readers of events open contacts' personal data with these (projections/personal.py).
    hold_master_keys(
        settings.master_key_bytes(),
        settings.previous_master_key_bytes(),
        production=settings.is_production,
    )
    return settings


DEFAULT_TEMPORAL_ADDRESS = "127.0.0.1:7233"


@dataclass(frozen=True)
class Stack:
    """The servers one command uses, resolved once: from the environment, else from the
    address book `bytedash up` keeps in the data folder (interfaces/embedded.py), else the
    embedded Postgres of the folder and Temporal's default address."""

    database_url: str
    temporal_address: str
    namespace: str
    task_queue: str


def _stack(
    settings: Settings, *, postgres: bool = True, temporal: bool = False, command: bool = False
) -> Stack:
    """Resolve the servers this command needs and say on stderr, in one line, which ones and
    where from: a command that talks to the wrong stack is worse than one that fails.

    `command`: the command itself sends work through Temporal, so a stopped `up`'s embedded
    server is refused by name rather than replaced by the default address, where another
    stack's Temporal may listen. A process (`worker`, `api`) keeps the documented default."""
    from interfaces.embedded import AddressBook, EmbeddedPostgres, redacted

    data_dir = Path(settings.data_dir).resolve()
    book = AddressBook.read(data_dir)
    running = book is not None and book.up_running
    from_up = f"bytedash up on {data_dir}, pid {book.up_pid}" if book is not None else ""
    said_temporal = ""
    temporal_address = settings.temporal_address or DEFAULT_TEMPORAL_ADDRESS
    namespace, task_queue = settings.temporal_namespace, settings.temporal_task_queue
    if temporal:
        if settings.temporal_address:
            source = "TEMPORAL_ADDRESS"
        elif book is not None and (running or not book.temporal_embedded):
            temporal_address, source = book.temporal_address, from_up
            if "temporal_namespace" not in settings.model_fields_set:
                namespace = book.temporal_namespace
            if "temporal_task_queue" not in settings.model_fields_set:
                task_queue = book.temporal_task_queue
        elif book is not None and command:
            raise CommandLineError(
                f"bytedash up is not running on {data_dir}: the embedded Temporal it ran "
                f"({book.temporal_address}) stopped with it; start `bytedash up` there, or set "
                "TEMPORAL_ADDRESS to a running Temporal server"
            )
        else:
            source = f"default: no TEMPORAL_ADDRESS, no bytedash up running on {data_dir}"
        said_temporal = f"Temporal {temporal_address} ({source})"
    said_postgres = ""
    database_url = ""
    if postgres:
        if settings.database_url:
            database_url, source = settings.database_url, "DATABASE_URL"
        elif book is not None and (running or not book.postgres_embedded):
            database_url, source = book.database_url, from_up
        else:
            database_url = EmbeddedPostgres(data_dir).start()
            source = f"embedded in {data_dir}"
        said_postgres = f"Postgres {redacted(database_url)} ({source})"
    said = [text for text in (said_postgres, said_temporal) if text]
    if said:
        print(f"bytedash: {', '.join(said)}", file=sys.stderr, flush=True)
    return Stack(database_url, temporal_address, namespace, task_queue)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_up(args: argparse.Namespace) -> int:
    from interfaces.embedded import AlreadyRunningError, EmbeddedStartError
    from interfaces.logging import configure_logging
    from interfaces.supervisor import StackError
    from interfaces.up import default_workers, run_up

    workers = args.workers if args.workers is not None else default_workers()
    settings = _settings()
    if not args.verbose:
        # The supervisor's own warnings and errors (a child that died, a crash loop) still
        # show; its routine lines go unsaid, its children's go to the log file.
        configure_logging(settings.log_format, level="WARNING")
    try:
        return run_up(
            settings,
            workers=workers,
            api_workers=args.api_workers,
            split_projector=args.split_projector,
            verbose=args.verbose,
        )
    except (AlreadyRunningError, EmbeddedStartError, StackError) as e:
        raise CommandLineError(str(e)) from None


def cmd_migrate(args: argparse.Namespace) -> int:
    from migrations import apply_migrations

    applied = apply_migrations(_stack(_settings()).database_url)
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print("nothing to apply: the database is up to date")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from interfaces.supervisor import die_with_supervisor
    from worker.main import run_worker

    die_with_supervisor()
    settings = _settings()
    stack = _stack(settings, temporal=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(
            database_url=stack.database_url,
            temporal_address=stack.temporal_address,
            namespace=stack.namespace,
            task_queue=stack.task_queue,
            smtp_url=settings.smtp_url,
            llm_base_url=settings.llm_base_url,
            llm_api_key=settings.llm_key(),
            master_key=None if settings.uses_dev_master_key else settings.master_key_bytes(),
            previous_master_key=settings.previous_master_key_bytes(),
            outbound_allow=settings.outbound_allow,
            stop=stop,
        )

    asyncio.run(main())
    return 0


def cmd_projector(args: argparse.Namespace) -> int:
    from interfaces.supervisor import die_with_supervisor
    from interfaces.triggers import NAME as TRIGGERS
    from interfaces.triggers import TemporalStarter, TriggerFollower
    from projections import Projection, Projector, default_projections, projection_named
    from projections.chain import SEALER, ChainSealer

    die_with_supervisor()
    settings = _settings()
    # `--only` names one or more (comma-separated) of: a projection, the followers
    # 'admin_requests' and 'triggers', and 'chain' (the sealer). Without it, all of them.
    followers = (TRIGGERS, "admin_requests", SEALER)
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else []

    def wants(name: str) -> bool:
        return not names or name in names

    stack = _stack(settings, temporal=wants(TRIGGERS))
    chosen: list[Projection] = []
    starter: TemporalStarter | None = None
    try:
        if names:
            chosen = [projection_named(n) for n in names if n not in followers]
        else:
            chosen = default_projections()
    except KeyError as e:
        raise CommandLineError(f"{e.args[0]}, {', '.join(followers)}") from None
    admin: Any = None
    if wants("admin_requests"):
        from interfaces.admin_requests import AdminRequestFollower

        admin = AdminRequestFollower(stack.database_url)
        chosen.append(admin)
    if wants(TRIGGERS):
        # The record-trigger follower starts executions, so it needs Temporal.
        starter = TemporalStarter(
            stack.temporal_address,
            stack.namespace,
            stack.task_queue,
            sealed_by=_sealed_by(stack, settings),
        )
        chosen.append(TriggerFollower(starter))
    stop = _stop_on_signals()
    # The sealer keeps the hash chain up with the store (projections/chain.py).
    sealer: threading.Thread | None = None
    if wants(SEALER):
        sealer = threading.Thread(
            target=ChainSealer(stack.database_url).run_forever, args=(stop,), name="sealer"
        )
        sealer.start()
    # Batches of decoded events: let them die young (interfaces/heap.py).
    settle_heap(young_threshold=YOUNG_THRESHOLD_BATCHES)
    try:
        if chosen:
            with Projector(stack.database_url, chosen) as projector:
                log.info("projector.started", projections=[p.name for p in chosen])
                projector.run_forever(stop)
        else:  # the sealer alone
            stop.wait()
    finally:
        stop.set()
        if sealer is not None:
            sealer.join()
        if starter is not None:
            starter.close()
        if admin is not None:
            admin.close()
    return 0


# Seconds the API waits for in-flight requests (and open event streams) when told to stop;
# then uvicorn cancels them. Waits for results end at the stop signal already (202, or 504 for
# ?wait=true: interfaces/api/stopping.py); 10 s here let a stop take 10-20 s.
API_GRACEFUL_SHUTDOWN = 3


def api_from_environment() -> FastAPI:
    """The app factory uvicorn's worker processes import (``--workers`` needs an import
    string): each builds its own app from the environment ``cmd_api`` resolved."""
    from interfaces.api.app import create_app

    return create_app(_settings())


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from interfaces.supervisor import die_with_supervisor

    die_with_supervisor()
    settings = _settings()
    stack = _stack(settings, temporal=True)
    settings = settings.model_copy(
        update={
            "database_url": stack.database_url,
            "temporal_address": stack.temporal_address,
            "temporal_namespace": stack.namespace,
            "temporal_task_queue": stack.task_queue,
        }
    )
    if args.workers > 1:
        # Resolved once here (an embedded server is started at most once), inherited by workers.
        assert settings.database_url is not None and settings.temporal_address is not None
        os.environ["DATABASE_URL"] = settings.database_url
        os.environ["TEMPORAL_ADDRESS"] = settings.temporal_address
        os.environ["TEMPORAL_NAMESPACE"] = settings.temporal_namespace
        os.environ["TEMPORAL_TASK_QUEUE"] = settings.temporal_task_queue
        uvicorn.run(
            "interfaces.cli:api_from_environment",
            factory=True,
            workers=args.workers,
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,
            timeout_graceful_shutdown=API_GRACEFUL_SHUTDOWN,
        )
        return 0
    from interfaces.api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        timeout_graceful_shutdown=API_GRACEFUL_SHUTDOWN,
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from interfaces.api.auth import OperatorPolicy, issue_dev_token

    settings = _settings()
    secret = settings.jwt_secret()
    if secret is None:
        raise CommandLineError(
            "no AUTH_JWT_SECRET is configured: dev tokens need the HS256 secret the API checks "
            "(with AUTH_JWKS_URL set, the development secret is off: tokens come from the "
            "identity provider)"
        )
    user = args.user or f"dev-{'operator' if args.operator else args.role}"
    extra: dict[str, Any] = {}
    if args.operator:
        policy = OperatorPolicy.from_settings(settings)
        extra = policy.operator_claims()
        if not extra and user not in policy.subjects:
            raise CommandLineError(
                "AUTH_OPERATOR_CLAIM is empty, so only AUTH_OPERATOR_SUBJECTS are operators: "
                "pass --user with one of them"
            )
    token = issue_dev_token(
        secret, org=args.org, role=args.role, user=user, ttl=args.ttl, extra_claims=extra
    )
    print(token)
    return 0


def cmd_projections_status(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row

    from projections.queries.status import projection_status

    with psycopg.connect(_stack(_settings()).database_url, row_factory=dict_row) as conn:
        rows = projection_status(conn, args.name)
    if args.name and not rows:
        raise CommandLineError(f"no projection named {args.name!r}")
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    print(f"{'projection':<14}{'position':>10}{'head':>10}{'lag':>8}{'lag s':>9}  state")
    for row in rows:
        lag_seconds = row.get("lag_seconds")
        print(
            f"{row['name']:<14}{row['position']:>10}{row['head']:>10}{row['lag_events']:>8}"
            f"{(f'{lag_seconds:.1f}' if lag_seconds is not None else '-'):>9}  {row['status']}"
            + (f"  ({row['last_error']})" if row.get("last_error") else "")
        )
    return 0


def _sealed_by(stack: Stack, settings: Settings) -> tuple[str, bytes | None, bytes | None]:
    """Where the Temporal payload keys are, and the master keys that open them."""
    master = None if settings.uses_dev_master_key else settings.master_key_bytes()
    return stack.database_url, master, settings.previous_master_key_bytes()


def _record(stack: Stack, args: argparse.Namespace, action: str, **params: Any) -> None:
    from interfaces.admin_cli import AdminRecordError, record_admin_action

    try:
        action_id = record_admin_action(
            address=stack.temporal_address,
            namespace=stack.namespace,
            task_queue=stack.task_queue,
            org_id=args.org,
            action=action,
            target=args.name,
            parameters=params,
            sealed_by=_sealed_by(stack, _settings()),
        )
    except AdminRecordError as e:
        raise CommandLineError(f"could not record the {action} as an admin event: {e}") from None
    print(f"recorded admin action {action_id}", file=sys.stderr)


def cmd_projections_admin(args: argparse.Namespace) -> int:
    from projections import projection_named
    from projections.admin import (
        AdminError,
        TerminalProgress,
        rebuild_projection,
        reset_projection,
        retry_parked,
        skip_parked,
        verify_projection,
    )

    settings = _settings()
    try:
        projection_named(args.name)  # refuse an unknown name before recording anything
    except KeyError as e:
        raise CommandLineError(str(e.args[0])) from None
    stack = _stack(settings, temporal=True, command=True)
    url = stack.database_url
    try:
        if args.action in ("rebuild", "verify"):  # batch jobs (interfaces/heap.py)
            settle_heap(young_threshold=YOUNG_THRESHOLD_BATCHES)
        if args.action == "rebuild":
            _record(stack, args, "rebuild", from_scratch=args.from_scratch)
            progress = TerminalProgress(sys.stderr, label=f"rebuild {args.name}")
            stop = _stop_on_signals()
            try:
                report = rebuild_projection(
                    url,
                    args.name,
                    progress=progress,
                    stop=stop,
                    from_scratch=args.from_scratch,
                    requested_by=operator_name(),
                )
            finally:
                progress.close()
            if not report.done:
                print(
                    f"rebuild of {args.name} interrupted at position {report.position}; "
                    "run it again to resume"
                )
                return 130
            print(
                f"rebuilt {args.name}: {report.events_applied} events to position "
                f"{report.position} in {report.seconds:.1f} s (swap {report.swap_seconds:.3f} s)"
            )
        elif args.action == "verify":
            _record(stack, args, "verify")
            progress = TerminalProgress(sys.stderr, label=f"verify {args.name}")
            try:
                verdict = verify_projection(url, args.name, progress=progress)
            finally:
                progress.close()
            if verdict.ok:
                print(
                    f"{args.name} matches a fresh rebuild: {verdict.compared_rows} rows "
                    f"at position {verdict.position}"
                )
                return 0
            print(f"{args.name} differs from a fresh rebuild at position {verdict.position}:")
            for key in verdict.missing:
                print(f"  missing  {key}")
            for key in verdict.extra:
                print(f"  extra    {key}")
            for changed in verdict.changed:
                print(f"  changed  {changed}")
            return 1
        elif args.action == "reset":
            _record(stack, args, "reset", to_position=args.to)
            report = reset_projection(url, args.name, args.to)
            print(f"reset {args.name} to position {report.position}")
        elif args.action == "retry":
            _record(stack, args, "retry_parked", position=args.position)
            retried = retry_parked(url, args.name, args.position, actor=operator_name())
            print(f"retried {retried.retried} parked event(s), {retried.failed} still failing")
            return 0 if retried.ok else 1
        else:
            _record(stack, args, "skip_parked", position=args.position, reason=args.reason)
            skip_parked(url, args.name, args.position, args.reason, operator_name())
            print(f"skipped event {args.position} of {args.name}: {args.reason}")
    except (AdminError, ValueError, LookupError) as e:
        raise CommandLineError(str(e)) from None
    return 0


def operator_name() -> str:
    from interfaces.admin_cli import operator

    return operator()


def _output(path: str | None) -> TextIO:
    return sys.stdout if path in (None, "-") else open(path, "w", encoding="utf-8", newline="")


def cmd_events_export(args: argparse.Namespace) -> int:
    from interfaces.events_cli import export, filters_from

    out = _output(args.output)
    try:
        count = export(
            _stack(_settings()).database_url, args.org, filters_from(args), out, args.format
        )
    except ValueError as e:
        raise CommandLineError(str(e)) from None
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"exported {count} events", file=sys.stderr)
    return 0


def cmd_events_tail(args: argparse.Namespace) -> int:
    from interfaces.events_cli import filters_from, tail

    stop = _stop_on_signals()
    try:
        tail(
            _stack(_settings()).database_url,
            args.org,
            filters_from(args),
            sys.stdout,
            after=0 if args.from_start else args.after,
            stop=stop,
        )
    except ValueError as e:
        raise CommandLineError(str(e)) from None
    return 0


def cmd_events_verify(args: argparse.Namespace) -> int:
    from interfaces.events_cli import verify

    try:
        intact = verify(_stack(_settings()).database_url, sys.stdout, args.anchor)
    except ValueError as e:
        raise CommandLineError(str(e)) from None
    return 0 if intact else 1


def cmd_keys(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        return privacy_cli.rotate(args, settings, _stack(settings).database_url)
    except privacy_cli.PrivacyCommandError as e:
        raise CommandLineError(str(e)) from None


def cmd_privacy(args: argparse.Namespace) -> int:
    try:
        return privacy_cli.legacy(args, _stack(_settings()).database_url)
    except privacy_cli.PrivacyCommandError as e:
        raise CommandLineError(str(e)) from None


def _event_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, help="the org whose events to read")
    for name in (
        "aggregate-type",
        "aggregate-id",
        "event-type",
        "workflow-id",
        "run-id",
        "correlation-id",
        "actor",
    ):
        parser.add_argument(f"--{name}", help=f"only events with this {name.replace('-', ' ')}")
    parser.add_argument("--since", help="occurred_at >= this ISO time (with a timezone)")
    parser.add_argument("--until", help="occurred_at < this ISO time (with a timezone)")


MAX_PROCESSES = 64


def _process_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"{count} is not between 1 and {MAX_PROCESSES}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bytedash", description="Byte Dashboard backend: processes and admin tooling."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="the whole stack in the foreground (embedded defaults), one process per role",
    )
    up.add_argument(
        "--workers",
        type=_process_count,
        metavar="N",
        help="worker processes (default: one per two CPU cores, at least one)",
    )
    up.add_argument(
        "--api-workers", type=_process_count, default=1, metavar="N", help="API processes"
    )
    up.add_argument(
        "--split-projector",
        action="store_true",
        help="the read models spread over a projector process per core (faster catch-up)",
    )
    up.add_argument(
        "--verbose",
        action="store_true",
        help="print everything on the terminal: the children's logs, pgserver's and uvicorn's "
        "lines (default: a short summary; the rest goes to bytedash.log in the data folder)",
    )
    up.set_defaults(func=cmd_up)
    sub.add_parser("migrate", help="apply pending migrations (idempotent)").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("worker", help="the Temporal worker alone").set_defaults(func=cmd_worker)
    projector = sub.add_parser("projector", help="the projector process alone")
    projector.add_argument(
        "--only",
        metavar="NAME[,NAME...]",
        help="run only these: projections, the followers 'triggers' and 'admin_requests', "
        "and 'chain' (the hash chain's sealer)",
    )
    projector.set_defaults(func=cmd_projector)
    api = sub.add_parser("api", help="the HTTP API alone")
    api.add_argument(
        "--workers", type=_process_count, default=1, metavar="N", help="uvicorn worker processes"
    )
    api.set_defaults(func=cmd_api)

    token = sub.add_parser("token", help="print a development bearer token")
    token.add_argument("--org", required=True, help="the org_id claim")
    token.add_argument("--role", required=True, choices=ROLES, help="the org_role claim")
    token.add_argument("--user", help="the sub claim (default dev-<role>)")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="seconds until expiry")
    token.add_argument(
        "--operator",
        action="store_true",
        help="a platform operator's token (the AUTH_OPERATOR_CLAIM claim): global admin tooling",
    )
    token.set_defaults(func=cmd_token)

    projections = sub.add_parser("projections", help="admin tooling for the read models")
    psub = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = psub.add_parser("status", help="position, head, lag and state of each projection")
    status.add_argument("name", nargs="?", help="one projection only")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_projections_status)
    org_help = "org recorded on the admin-action event (the operator's org)"
    rebuild = psub.add_parser("rebuild", help="rebuild aside, catch up, swap; resumable")
    rebuild.add_argument("name")
    rebuild.add_argument("--from-scratch", action="store_true", help="drop an unfinished one")
    verify_p = psub.add_parser("verify", help="rebuild aside and compare with the live tables")
    verify_p.add_argument("name")
    reset = psub.add_parser("reset", help="set a projection back to a position")
    reset.add_argument("name")
    reset.add_argument("--to", type=int, required=True, metavar="POSITION")
    retry = psub.add_parser("retry", help="apply parked events again")
    retry.add_argument("name")
    retry.add_argument("--position", type=int, help="one parked event (default: all)")
    skip = psub.add_parser("skip", help="give up on a parked event, recording why")
    skip.add_argument("name")
    skip.add_argument("--position", type=int, required=True)
    skip.add_argument("--reason", required=True)
    for admin in (rebuild, verify_p, reset, retry, skip):
        admin.add_argument("--org", default="system", help=org_help)
        admin.set_defaults(func=cmd_projections_admin)

    events = sub.add_parser("events", help="auditor tooling on the event store")
    esub = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    tail = esub.add_parser("tail", help="print an org's new events (NDJSON) as they happen")
    _event_filters(tail)
    tail.add_argument("--after", type=int, help="start after this position (default: the head)")
    tail.add_argument("--from-start", action="store_true", help="start from the first event")
    tail.set_defaults(func=cmd_events_tail)
    export = esub.add_parser("export", help="write an org's events as NDJSON or CSV")
    _event_filters(export)
    export.add_argument("--format", choices=("ndjson", "csv"), default="ndjson")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_events_export)
    check = esub.add_parser("verify", help="check the hash chain; exit 1 where it breaks")
    check.add_argument("--anchor", help="HEAD:HASH printed by an earlier verify")
    check.set_defaults(func=cmd_events_verify)

    privacy_cli.add_commands(sub)
    sub.choices["keys"].set_defaults(func=cmd_keys)
    sub.choices["privacy"].set_defaults(func=cmd_privacy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except CommandLineError as e:
        print(f"bytedash: {e}", file=sys.stderr)
        result = 2
    except KeyboardInterrupt:
        result = 130
    from interfaces import admin_cli

    if admin_cli.CLIENTS_USED:
        _exit_before_finalization(result)
    return result


def _exit_before_finalization(code: int) -> NoReturn:
    """Exit once the exit handlers have run (pgserver's stops a Postgres the command started),
    without the interpreter's finalization: the Temporal client's Rust threads may still be
    dropping their Python objects then, and the process aborted ("Fatal Python error:
    PyGILState_Release", temporalio/sdk-python#300) about one run in twenty."""
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
