"""The worker process runs the background loops without the API's stack (GraphQL, HTTP, ORM, Alembic):
`serve` and its worker together stay small when idle (bench/idle_rss.py measures them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.live import ROOT, server_env

# Started as `serve` starts it (the parent's pid set: serve has migrated), until its loops run; then
# the modules it holds are printed and it is stopped as serve stops it (SIGTERM).
WORKER = """
import json, logging, os, signal, sys
from graph.cli import main

class Ready(logging.Handler):
    def emit(self, record):
        if record.getMessage() == "workers running":
            roots = sorted({m.split(".")[0] for m in sys.modules})
            print(json.dumps(roots), flush=True)
            os.kill(os.getpid(), signal.SIGTERM)

real_configure = __import__("graph.logs", fromlist=["configure_logging"]).configure_logging
def configure(level):
    real_configure("INFO")  # the line this waits for is at INFO
    logging.getLogger().addHandler(Ready())
import graph.logs
graph.logs.configure_logging = configure
sys.exit(main(["worker"]))
"""

API_STACK = {"strawberry", "graphql", "starlette", "uvicorn", "sqlalchemy", "alembic", "httpx", "boto3"}


def test_the_worker_process_imports_none_of_the_api_stack(database_url, tmp_path):
    # given a worker process started as serve starts it
    env = server_env(database_url, tmp_path) | {"ALERTWHISPERER_PARENT_PID": str(os.getpid())}

    # when its loops are running
    done = subprocess.run(
        [sys.executable, "-c", WORKER], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    # then it holds no GraphQL, HTTP, ORM or migration modules, and stopped cleanly on SIGTERM
    assert done.returncode == 0, done.stderr
    roots = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"asyncpg", "db", "graph"} <= roots
    assert roots & API_STACK == set()
