"""The `/readyz` answer: the database and schema, and whether correlation keeps up.

- 503 `unavailable`: the database is unreachable, its schema is not this build's head, the oldest
  alert waiting for correlation is older than `ALERTWHISPERER_READY_MAX_LAG_SECONDS` (correlation is
  failing or falling behind), or a background loop failed to start or has failed three steps in a row.
- 200 `degraded`: everything runs, but some companies' alerts are quarantined (their data made a batch
  fail; every other company is correlated), or a reaction to incident changes has dead-lettered
  changes (`reactions`: per reaction its backlog, dead letters and oldest waiting change). The API still serves every tenant, so taking the replica
  out of a load balancer would not help: the companies and the kind of error are listed instead.
- 200 `ready`: otherwise.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from db.health import CorrelationHealth

FAILING_STEPS = 3


def readiness(schema: str | None, health: CorrelationHealth, max_lag_seconds: float) -> JSONResponse:
    problems: list[str] = []
    if health.lag_seconds > max_lag_seconds:
        problems.append(
            f"correlation is {health.lag_seconds:.0f} s behind (the limit is {max_lag_seconds:.0f} s)"
        )
    for loop in health.loops:
        if loop["state"] == "failed_to_start":
            problems.append(f"background loop {loop['name']} failed to start ({loop['error']})")
        elif loop["state"] == "failing" and loop["failures"] >= FAILING_STEPS:
            problems.append(f"background loop {loop['name']} is failing ({loop['error']})")
    correlation: dict[str, Any] = {
        "lag_seconds": round(health.lag_seconds, 3),
        "max_lag_seconds": max_lag_seconds,
        "quarantined_companies": health.quarantined,
        "loops": health.loops,
    }
    if problems:
        status, code = "unavailable", 503
    elif health.quarantined or any(r["dead"] for r in health.reactions):
        status, code = "degraded", 200
        if health.quarantined:
            problems.append(f"{len(health.quarantined)} companies' alerts are quarantined")
        for r in health.reactions:
            if r["dead"]:
                problems.append(f"reaction {r['name']} has {r['dead']} dead-lettered changes")
    else:
        status, code = "ready", 200
    body = {
        "status": status,
        "schema": schema,
        "problems": problems,
        "correlation": correlation,
        "reactions": health.reactions,
    }
    return JSONResponse(body, status_code=code)
