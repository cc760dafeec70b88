"""The hand-written service the product is compared with, as its own processes:
``python -m bench.e2e.handwritten api|worker|both``.

A FastAPI app answering the paths the bench's client uses (the product's paths, so one client
drives both) over plain SQL rows, and a Temporal worker running the one hand-written workflow of
bench/e2e_baseline.py with the settings of the product's worker. What someone would write for
this one onboarding: a signature check, a bearer token check, a workflow start, SELECTs for the
reads, a small workflow for the reviewer's "done". No event store, no projections.

Configured by environment: HW_DATABASE_URL, HW_TEMPORAL_ADDRESS, HW_TASK_QUEUE, HW_ORG,
HW_DEFINITION_ID, HW_WEBHOOK_SECRET, HW_JWT_SECRET, HW_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import jwt
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.worker import Worker

from bench.e2e_baseline import (
    BASELINE_REVIEW_WORKFLOW,
    BASELINE_WORKFLOW,
    BASELINE_WORKFLOWS,
    BaselineActivities,
    baseline_workflow_id,
)

SIGNATURE_TOLERANCE = 300


@dataclass(frozen=True)
class Config:
    database_url: str
    temporal_address: str
    task_queue: str
    org_id: str
    definition_id: str
    webhook_secret: str
    jwt_secret: str
    port: int

    @classmethod
    def from_env(cls) -> Config:
        try:
            return cls(
                database_url=os.environ["HW_DATABASE_URL"],
                temporal_address=os.environ["HW_TEMPORAL_ADDRESS"],
                task_queue=os.environ["HW_TASK_QUEUE"],
                org_id=os.environ["HW_ORG"],
                definition_id=os.environ["HW_DEFINITION_ID"],
                webhook_secret=os.environ["HW_WEBHOOK_SECRET"],
                jwt_secret=os.environ["HW_JWT_SECRET"],
                port=int(os.environ.get("HW_PORT", "0")),
            )
        except KeyError as missing:
            raise SystemExit(f"the hand-written service needs {missing.args[0]}") from None


def _signature_ok(secret: str, header: str | None, body: bytes) -> bool:
    if not header:
        return False
    parts = dict(item.strip().partition("=")[::2] for item in header.split(","))
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > SIGNATURE_TOLERANCE:
        return False
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, given)


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise HTTPException(404, "not found") from None


def _caller_org(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The org of a valid HS256 bearer token, which must be the service's one org."""
    config: Config = request.app.state.config
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "a bearer token is required")
    try:
        claims = jwt.decode(token, config.jwt_secret, algorithms=["HS256"])
    except jwt.PyJWTError as e:
        raise HTTPException(401, f"invalid token: {e}") from None
    if claims.get("org_id") != config.org_id:
        raise HTTPException(403, "another org")
    return str(claims["org_id"])


Org = Annotated[str, Depends(_caller_org)]


def create_app(config: Config) -> FastAPI:
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(config.database_url, min_size=4, max_size=8, open=True)
        state["pool"] = pool
        state["temporal"] = await Client.connect(config.temporal_address)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(lifespan=lifespan)
    app.state.config = config

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/webhooks/{definition_id}", status_code=202)
    async def webhook(definition_id: str, request: Request) -> JSONResponse:
        if definition_id != config.definition_id:
            raise HTTPException(404, "no such definition")
        body = await request.body()
        if not _signature_ok(config.webhook_secret, request.headers.get("X-Byte-Signature"), body):
            raise HTTPException(401, "bad signature")
        try:
            payload = json.loads(body)
        except ValueError:
            raise HTTPException(422, "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise HTTPException(422, "the body must be a JSON object")
        delivery = request.headers.get("X-Byte-Delivery") or hashlib.sha256(body).hexdigest()
        execution_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{definition_id}/{delivery}"))
        temporal: Client = state["temporal"]
        await temporal.start_workflow(
            BASELINE_WORKFLOW,
            {
                "org_id": config.org_id,
                "execution_id": execution_id,
                "definition_id": definition_id,
                "payload": payload,
                "local": True,
            },
            id=baseline_workflow_id(execution_id),
            task_queue=config.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return JSONResponse({"id": execution_id}, status_code=202)

    @app.get("/api/v1/executions/{execution_id}")
    def get_execution(execution_id: str, org_id: Org) -> dict[str, Any]:
        key = _uuid_or_404(execution_id)
        pool: ConnectionPool = state["pool"]
        with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT id::text, definition_id, workflow_id, contact_id::text, status, ui_status,"
                " current_step, started_at, updated_at, completed_at"
                " FROM hw_executions WHERE id = %s AND org_id = %s",
                (key, org_id),
            ).fetchone()
            if row is None:
                raise HTTPException(404, "not found")
            row["steps"] = cur.execute(
                "SELECT step_id, status, output, at FROM hw_steps WHERE execution_id = %s"
                " ORDER BY at, key",
                (key,),
            ).fetchall()
        return row

    @app.get("/api/v1/tasks")
    def list_tasks(org_id: Org, execution_id: str) -> dict[str, Any]:
        key = _uuid_or_404(execution_id)
        pool: ConnectionPool = state["pool"]
        with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            items = cur.execute(
                "SELECT id::text, execution_id::text, step_id, title, assigned_to, priority,"
                " status, metadata, due_date, completed_at FROM hw_tasks"
                " WHERE org_id = %s AND execution_id = %s ORDER BY seq",
                (org_id, key),
            ).fetchall()
        return {"items": items}

    @app.patch("/api/v1/tasks/{task_id}", status_code=202)
    async def update_task(task_id: str, org_id: Org, request: Request) -> dict[str, str]:
        key = _uuid_or_404(task_id)
        try:
            change = await request.json()
        except ValueError:
            raise HTTPException(422, "the body is not JSON") from None
        if not isinstance(change, dict) or change.get("status") != "done":
            raise HTTPException(422, "this service only marks tasks done")
        outcome = (change.get("metadata") or {}).get("outcome")
        temporal: Client = state["temporal"]
        workflow_id = f"hw-review-{key}"
        try:
            await temporal.execute_workflow(
                BASELINE_REVIEW_WORKFLOW,
                {"task_id": str(key), "outcome": outcome},
                id=workflow_id,
                task_queue=config.task_queue,
            )
        except WorkflowAlreadyStartedError:
            raise HTTPException(409, "the task is already being completed") from None
        return {"id": str(key), "workflow_id": workflow_id}

    return app


def build_worker(client: Client, pool: ConnectionPool, task_queue: str) -> Worker:
    """The settings of the product's worker (worker/main.py), with the hand-written workflow."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=BASELINE_WORKFLOWS,
        activities=BaselineActivities(pool).all(),
        activity_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity"),
        max_concurrent_activities=16,
        max_concurrent_local_activities=16,
        max_cached_workflows=1000,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=10),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def serve(config: Config, api: bool, worker: bool) -> None:
    tasks: list[asyncio.Task[None]] = []
    server: uvicorn.Server | None = None
    pool: ConnectionPool | None = None
    if worker:
        pool = ConnectionPool(config.database_url, min_size=8, max_size=8, open=True)
        client = await Client.connect(config.temporal_address)
        tasks.append(asyncio.create_task(build_worker(client, pool, config.task_queue).run()))
    if api:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(config),
                host="127.0.0.1",
                port=config.port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
        tasks.append(asyncio.create_task(server.serve()))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if server is not None:
            server.should_exit = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if pool is not None:
            pool.close()


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("api", "worker", "both"):
        raise SystemExit("usage: python -m bench.e2e.handwritten api|worker|both")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Config.from_env(), api=mode != "worker", worker=mode != "api"))


if __name__ == "__main__":
    main()
