"""The `alertwhisperer` command: serve, worker, migrate, user-create, seed-demo, export-schema, db-stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from graph.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _print_demo(creds: Any) -> None:
    print("\n=== AlertWhisperer demo credentials ===")
    for email, password, role in creds.users:
        print(f"  {role:<14} {email:<28} password: {password}")
    for company, key in creds.api_keys.items():
        print(f"  API key for {company}: {key}")
    for company in creds.rotated:
        print(
            f"  API key for {company}: rotated since the demo made it (or made under another"
            " ALERTWHISPERER_HOME); companyApiKeyRotate gives a new one"
        )
    print("=======================================\n", flush=True)


async def _with_uow(settings: Settings, fn: Any) -> Any:
    import anyio

    from db.migrate import upgrade_to_head
    from db.uow import UnitOfWork
    from domain.rbac import system_principal
    from graph.services import build_services, resolve_database_url

    url = await anyio.to_thread.run_sync(resolve_database_url, settings)
    await anyio.to_thread.run_sync(upgrade_to_head, url)
    async with build_services(settings, url) as services:
        return await fn(
            lambda: UnitOfWork(services.sessionmaker, system_principal("cli"), services.cipher, "cli"),
            services,
        )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from graph.app import create_app
    from graph.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    if args.demo:
        from graph.demo import DEMO_COMPANY, seed_demo, start_demo_loop

        async def seed_and_loop(uow: Any, services: Any) -> Any:
            creds = await seed_demo(uow, settings.bcrypt_rounds, settings.home)
            said = await start_demo_loop(uow, services, creds.api_keys.get(DEMO_COMPANY))
            return creds, said

        creds, said = asyncio.run(_with_uow(settings, seed_and_loop))
        _print_demo(creds)
        print(f"Demo mode: {said}", flush=True)
        if settings.workers == "process" and not settings.demo_ingest_url:
            # The worker process posts the demo's webhooks to this server.
            host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
            host = f"[{host}]" if ":" in host else host
            os.environ["ALERTWHISPERER_DEMO_INGEST_URL"] = f"http://{host}:{args.port}"
    app = create_app(settings)
    if settings.workers == "process":
        _supervise_workers(app)
    # Subscription events are small JSON messages: per-message compression costs more CPU than the
    # bytes it saves, and a burst of them leaves in one write (graph/ws_protocol.py).
    from graph.ws_protocol import WS_PROTOCOL

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        proxy_headers=True,
        lifespan="on",
        ws=WS_PROTOCOL,
        ws_per_message_deflate=False,
    )
    return 0


def _supervise_workers(app: Any) -> None:
    """Start the worker process once the app is up, stop it during the app's shutdown (uvicorn
    re-raises SIGTERM after shutting down, so code after `uvicorn.run` may never run)."""
    import contextlib

    serve_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> Any:
        async with serve_lifespan(a) as state:
            supervisor = WorkerSupervisor()
            supervisor.start()
            try:
                yield state
            finally:
                await asyncio.to_thread(supervisor.stop)

    app.router.lifespan_context = lifespan


class WorkerSupervisor:
    """`serve`'s background workers, in a child `alertwhisperer worker` process it keeps running.

    Apart from the API's event loop, correlation neither delays webhooks nor waits behind them. The
    child is restarted if it dies, stopped (SIGTERM, then SIGKILL) when `serve` stops, and exits by
    itself if `serve` dies first (it watches its parent).
    """

    RESTART_DELAY_SECONDS = 1.0

    def __init__(self) -> None:
        import threading

        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no spawn after stop() has looked for the child to stop
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)
        self._proc: Any = None

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> Any:
        import os
        import subprocess

        from graph.worker_process import PARENT_PID_ENV

        env = dict(os.environ) | {PARENT_PID_ENV: str(os.getpid())}
        # Its own session: a Ctrl+C in the terminal reaches `serve`, which then stops the worker itself.
        return subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "worker"], env=env, start_new_session=True
        )

    def _run(self) -> None:
        import logging

        log = logging.getLogger("graph.workers")
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self._proc = self._spawn()
            code = self._proc.wait()
            if not self._stopping.is_set():
                log.error("worker process exited; restarting it", extra={"exit_code": code})
                self._stopping.wait(self.RESTART_DELAY_SECONDS)

    def stop(self, timeout: float = 15.0) -> None:
        import subprocess

        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._thread.join(timeout)


def cmd_worker(args: argparse.Namespace) -> int:
    from graph.logs import configure_logging
    from graph.worker_process import run_worker_forever

    settings = _settings()
    configure_logging(settings.log_level)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        run: Any = asyncio.run
    else:
        run = uvloop.run
    try:
        run(run_worker_forever(settings))
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass  # SIGTERM / SIGINT: stopped between batches
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from db.migrate import upgrade_to_head
    from graph.services import resolve_database_url

    upgrade_to_head(resolve_database_url(_settings()))
    print("database is at the latest schema")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from adapters.crypto import hash_password
    from db.tables import Company
    from domain.categories import parse_category
    from domain.errors import DomainError
    from domain.passwords import check_password, normalize_email
    from domain.rbac import Role

    settings = _settings()
    try:
        email = normalize_email(args.email)
        check_password(args.password)
        category = parse_category(args.category)
    except DomainError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2

    async def run(uow_factory: Any, services: Any) -> int:
        async with uow_factory() as uow:
            company_ids = []
            if args.company:
                company = (
                    await uow.session.execute(
                        select(Company).where(Company.name == args.company, Company.deleted_at.is_(None))
                    )
                ).scalar_one_or_none()
                if company is None:
                    raise DomainError(f"no company named {args.company!r}", field="company", code="NOT_FOUND")
                company_ids = [company.id]
            user = await uow.users.create(
                email=email,
                name=args.name or email.split("@")[0],
                role=Role(args.role),
                password_hash=hash_password(args.password, settings.bcrypt_rounds),
                company_ids=company_ids,
                category=category.value if category else None,
            )
        print(f"created {args.role} {user.email} ({user.id})")
        return 0

    try:
        return int(asyncio.run(_with_uow(settings, run)))
    except DomainError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from graph.demo import seed_demo

    settings = _settings()
    creds = asyncio.run(
        _with_uow(settings, lambda uow, s: seed_demo(uow, settings.bcrypt_rounds, settings.home))
    )
    _print_demo(creds)
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from graph.schema import build_schema

    text = str(build_schema()) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


def cmd_reactions(args: argparse.Namespace) -> int:
    from db.reactions import backlog, requeue_dead

    async def run(uow_factory: Any, services: Any) -> int:
        if args.requeue:
            names = {b.name for b in await backlog(services.pool)}
            if args.requeue not in names:
                print(f"error: reaction: no reaction named {args.requeue!r}", file=sys.stderr)
                return 2
            count = await requeue_dead(services.pool, args.requeue)
            print(f"requeued {count} dead-lettered changes of {args.requeue}")
            return 0
        rows = await backlog(services.pool)
        print(f"{'reaction':<40} {'pending':>8} {'dead':>6} {'oldest pending':>16}")
        for b in rows:
            oldest = "-" if b.oldest_pending_seconds is None else f"{b.oldest_pending_seconds:.0f} s"
            print(f"{b.name:<40} {b.pending:>8} {b.dead:>6} {oldest:>16}")
        if not rows:
            print("(no reactions registered)")
        return 0

    return int(asyncio.run(_with_uow(_settings(), run)))


def cmd_db_stop(args: argparse.Namespace) -> int:
    from db.embedded import stop_embedded

    stopped = stop_embedded(_settings().home)
    print("embedded postgres stopped" if stopped else "no embedded postgres running")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertwhisperer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the API server (migrates to head first)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", help="create the demo tenant and print its credentials")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run the background workers only (correlation, sweeps)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="migrate the database to the latest schema")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("user-create", help="create a user")
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--role", required=True, choices=["msp_admin", "company_admin", "technician"])
    p.add_argument("--company", help="company name (company admins and technicians)")
    p.add_argument("--name")
    p.add_argument(
        "--category",
        help="technician skill category: Network, Database, Server, Storage, Security, Application,"
        " Cloud or Other (any case)",
    )
    p.set_defaults(func=cmd_user_create)

    p = sub.add_parser("seed-demo", help="create the demo tenant and print its credentials")
    p.set_defaults(func=cmd_seed_demo)

    p = sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    p.add_argument("--output", "-o", default="-")
    p.set_defaults(func=cmd_export_schema)

    p = sub.add_parser(
        "reactions", help="list the reactions to incident changes: backlog and dead-lettered changes"
    )
    p.add_argument("--requeue", metavar="NAME", help="give NAME's dead-lettered changes fresh attempts")
    p.set_defaults(func=cmd_reactions)

    p = sub.add_parser("db-stop", help="stop the embedded PostgreSQL")
    p.set_defaults(func=cmd_db_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
