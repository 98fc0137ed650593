"""What a process caches of a company (its API key lookup, its limits, its rate-limit lease) is dropped in
every app instance when the company changes, because the repository that makes the change publishes it
in the change's transaction: a change made without any resolver (a script, the CLI, a test) is heard too.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson

from db.events import COMPANIES_TOPIC, BusEvent, topic
from graph.core import parse_global_id
from tests.helpers import EVENT_TIMEOUT_SECONDS, event_heard


def one(**overrides):
    return {
        "asset_name": "web-01",
        "signature": "high_cpu",
        "severity": "high",
        "message": "CPU at 97%",
    } | overrides


async def post(client, api_key, payload):
    return await client.post(
        "/api/webhooks/alerts",
        content=orjson.dumps(payload),
        headers={"content-type": "application/json", "x-api-key": api_key},
    )


async def test_a_key_rotated_through_the_repository_stops_working_on_another_instance(
    second_app, second_client, factory
):
    # given another instance that has already authenticated the company's key (it is in its cache)
    company = await factory.company()
    assert (await post(second_client, company.api_key, one())).status_code == 202

    # when the key is rotated through the repository, in this instance, with no resolver involved
    # and no grace period (the old key stops at once)
    async with event_heard(second_app.state.services, COMPANIES_TOPIC):
        async with factory.uow() as uow:
            _, creds = await uow.companies.rotate_api_key(company.id, grace=0)

    # then the other instance refuses the old key at once and takes the new one
    old = await post(second_client, company.api_key, one())
    new = await post(second_client, creds.api_key or "", one())
    assert (old.status_code, old.json(), new.status_code) == (401, {"error": "invalid API key"}, 202)


async def test_limits_lowered_through_the_repository_apply_at_once_on_another_instance(
    second_app, second_client, factory
):
    # given another instance that has cached the company with a burst of 5 and leased tokens from it
    company = await factory.company(rate_limit_per_second=0.01, rate_limit_burst=5)
    assert (await post(second_client, company.api_key, one())).status_code == 202

    # when the burst is lowered to 1 through the repository
    async with event_heard(second_app.state.services, COMPANIES_TOPIC):
        async with factory.uow() as uow:
            await uow.companies.update_settings(company.id, "test.settings", rate_limit_burst=1)

    # then the other instance refuses a batch of two by the new burst
    resp = await post(second_client, company.api_key, {"alerts": [one(), one(asset_name="web-02")]})
    assert (resp.status_code, resp.json()["max_batch_alerts"]) == (413, 1)


async def test_a_company_deleted_through_the_repository_is_refused_on_another_instance(
    second_app, second_client, factory
):
    company = await factory.company()
    assert (await post(second_client, company.api_key, one())).status_code == 202

    async with event_heard(second_app.state.services, COMPANIES_TOPIC):
        async with factory.uow() as uow:
            await uow.companies.delete(company.id)

    assert (await post(second_client, company.api_key, one())).status_code == 401


async def test_a_change_that_rolls_back_announces_nothing(second_app, factory):
    # given two companies
    kept, changed = await factory.company(), await factory.company()
    bus = second_app.state.services.bus
    async with bus.subscribe({COMPANIES_TOPIC}) as sub:
        # when a key rotation of the first rolls back, then the second's commits
        try:
            async with factory.uow() as uow:
                await uow.companies.rotate_api_key(kept.id)
                raise RuntimeError("the rest of the change failed")
        except RuntimeError:
            pass
        async with factory.uow() as uow:
            await uow.companies.rotate_api_key(changed.id)

        # then the only announcement the other instance hears is the committed one
        async with asyncio.timeout(EVENT_TIMEOUT_SECONDS):
            heard = await sub.queue.get()
    assert heard == BusEvent(COMPANIES_TOPIC, kind="credentials", id=str(changed.id))
    assert sub.queue.empty()


async def test_the_ingest_statement_announces_alerts_in_the_bus_event_shape(client, factory, services):
    # given a subscriber on a company's alerts
    company = await factory.company()
    async with services.bus.subscribe({topic(company.id, "alerts")}) as sub:
        # when an alert is accepted
        resp = await post(client, company.api_key, one())
        async with asyncio.timeout(EVENT_TIMEOUT_SECONDS):
            heard = await sub.queue.get()

    # then the notification built in SQL is the same BusEvent the other publishers send
    [alert_id] = resp.json()["alert_ids"]
    assert heard == BusEvent(
        topic(company.id, "alerts"), kind="RECEIVED", ids=(str(uuid.UUID(parse_global_id(alert_id)[1])),)
    )
