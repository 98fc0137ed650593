"""The composition root: everything the app needs, built in the lifespan, never at import time."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters import metrics
from adapters.aws import AwsSessions
from adapters.clock import SystemClock
from adapters.crypto import DataCipher
from adapters.llm import llm_analysers
from adapters.ses import ses_mailer
from db.engine import asyncpg_dsn, create_engine, create_pool, create_sessionmaker
from db.events import EventBus
from domain.ports import Analyser, Clock, Mailer, RemoteExecutor
from graph.settings import Settings, resolve_database_url
from graph.tokens import TokenService

if TYPE_CHECKING:
    from graph.webhooks.service import IngestService

log = logging.getLogger(__name__)

__all__ = ["Services", "build_services", "resolve_database_url"]


@dataclass
class Services:
    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    pool: asyncpg.Pool
    bus: EventBus
    cipher: DataCipher
    tokens: TokenService
    clock: Clock = field(default_factory=SystemClock)
    # Started with the app (graph.runtime.start_background): the webhook's and alertIngest's one way in.
    ingest: IngestService | None = None
    # The outbound ports the lifecycle reactions use; None until their adapters are configured.
    executor: RemoteExecutor | None = None
    mailer: Mailer | None = None
    # The LLMs, in the order they are tried (none configured: the rules alone).
    analysers: list[Analyser] = field(default_factory=list)
    # Companies' AWS credentials and clients (set by build_services, on the services' clock).
    aws: AwsSessions = field(init=False)

    def __post_init__(self) -> None:
        self.aws = AwsSessions(self.clock)

    def ingest_service(self) -> IngestService:
        if self.ingest is None:
            raise RuntimeError("the ingest service is not started (the app's lifespan starts it)")
        return self.ingest


@contextlib.asynccontextmanager
async def build_services(settings: Settings, database_url: str | None = None) -> AsyncIterator[Services]:
    url = database_url or resolve_database_url(settings)
    engine = create_engine(url, pool_size=settings.db_pool_size)
    pool = await create_pool(url, max_size=settings.db_pool_size)
    bus = EventBus(asyncpg_dsn(url))
    await bus.start()
    services = Services(
        settings=settings,
        database_url=url,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        pool=pool,
        bus=bus,
        cipher=DataCipher(settings.data_key),
        tokens=TokenService(
            settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience, settings.token_ttl_seconds
        ),
        mailer=ses_mailer(settings.email_from, settings.ses_region),
        analysers=llm_analysers(settings),
    )
    unwatch = [metrics.watch_asyncpg_pool(pool), metrics.watch_sqlalchemy_pool(engine)]
    try:
        yield services
    finally:
        for stop in unwatch:
            stop()
        await bus.stop()
        await pool.close()
        await engine.dispose()
