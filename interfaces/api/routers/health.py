"""Operations endpoints outside ``/api/v1`` and without auth: liveness, readiness, metrics.

Liveness touches nothing (a process that answers is alive; restarting it will not fix the
database). Readiness checks what requests need: Postgres and Temporal.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from interfaces.api.context import ApiContext
from interfaces.api.deps import Context
from interfaces.api.problems import UNAVAILABLE, problem_response

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT = 2.0


@router.get("/healthz", name="healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    name="readyz",
    responses={503: {"description": "Postgres or Temporal is unreachable."}},
)
async def readyz(context: Context, request: Request) -> JSONResponse:
    postgres, temporal = await asyncio.gather(
        run_in_threadpool(_check_postgres, context), _check_temporal(context.temporal)
    )
    checks = {"postgres": postgres, "temporal": temporal}
    if all(result == "ok" for result in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(name for name, result in checks.items() if result != "ok")
    return problem_response(
        503,
        f"Not ready: {failing} unreachable.",
        instance=request.url.path,
        type_=UNAVAILABLE,
        headers={"Retry-After": "5"},
        extra={"status_text": "not ready", "checks": checks},
    )


@router.get("/metrics", name="metrics", response_class=Response)
def metrics(context: Context) -> Response:
    return Response(context.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _check_postgres(context: ApiContext) -> str:
    try:
        with context.pool.connection(timeout=CHECK_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except Exception as e:  # any failure means "not ready", with the reason shown
        return f"unavailable: {type(e).__name__}"
    return "ok"


async def _check_temporal(client: Client | None) -> str:
    if client is None:
        return "unavailable: not connected"
    try:
        serving = await asyncio.wait_for(
            client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT)),
            CHECK_TIMEOUT + 1,
        )
    except Exception as e:  # any failure means "not ready", with the reason shown
        return f"unavailable: {type(e).__name__}"
    return "ok" if serving else "unavailable: not serving"
