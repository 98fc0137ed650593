"""The AWS adapter against moto's server, reached only through `AWS_ENDPOINT_URL` (boto3's standard
configuration): role assumption with an external id, credential caching and renewal by the injected
clock, SSM Run Command, reconciling by comment, and AWS errors translated (botocore's Stubber)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.ssm.models import ssm_backends

from adapters.aws import AwsSessions, client_config
from domain.aws import AwsAccess, AwsAuthType, AwsError
from domain.ports import CommandState, RemoteCommand

ACCOUNT = "111122223333"
REGION = "eu-west-1"
ROLE = AwsAccess(
    REGION, AwsAuthType.ROLE, role_arn=f"arn:aws:iam::{ACCOUNT}:role/AlertWhisperer", external_id="ext-42"
)
KEYS = AwsAccess(
    REGION,
    AwsAuthType.ACCESS_KEY,
    access_key_id="AKIAABCDEFGHIJKLMNOP",
    secret_access_key="s" * 40,
)


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


class AssumeRoleCalls:
    """A platform session that records every AssumeRole it makes (what the adapter asked STS)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self) -> boto3.session.Session:
        session = boto3.session.Session()
        session.events.register(
            "provide-client-params.sts.AssumeRole", lambda params, **_: self.calls.append(dict(params))
        )
        return session


async def test_role_is_assumed_with_the_external_id_and_renewed_five_minutes_before_expiry(aws_env):
    clock, calls = Clock(), AssumeRoleCalls()
    sessions = AwsSessions(clock, platform_session=calls, role_duration_seconds=3600)
    company = uuid.uuid4()

    account, arn = await sessions.identity(company, ROLE)

    assert account == ACCOUNT
    assert ":assumed-role/AlertWhisperer/" in arn
    assert len(calls.calls) == 1
    assert calls.calls[0]["RoleArn"] == ROLE.role_arn
    assert calls.calls[0]["ExternalId"] == "ext-42"
    assert calls.calls[0]["DurationSeconds"] == 3600
    clients = sessions.clients_created

    # 54 minutes on: the credentials are still good for more than 5 minutes, so nothing new.
    clock.at += timedelta(minutes=54)
    await sessions.identity(company, ROLE)
    assert len(calls.calls) == 1
    assert sessions.clients_created == clients

    # 56 minutes on: within 5 minutes of expiry, so the role is assumed again and a new client made.
    clock.at += timedelta(minutes=2)
    assert (await sessions.identity(company, ROLE))[0] == ACCOUNT
    assert len(calls.calls) == 2
    assert sessions.clients_created == clients + 1


async def test_new_settings_drop_the_cached_credentials(aws_env):
    clock, calls = Clock(), AssumeRoleCalls()
    sessions = AwsSessions(clock, platform_session=calls)
    company = uuid.uuid4()
    await sessions.identity(company, ROLE)

    other = AwsAccess(
        REGION, AwsAuthType.ROLE, role_arn="arn:aws:iam::444455556666:role/Other", external_id="x-9"
    )
    account, _ = await sessions.identity(company, other)

    assert account == "444455556666"
    assert [c["RoleArn"] for c in calls.calls] == [ROLE.role_arn, other.role_arn]


async def test_access_keys_are_used_as_they_are_without_sts(aws_env):
    calls = AssumeRoleCalls()
    sessions = AwsSessions(Clock(), platform_session=calls)

    account, arn = await sessions.identity(uuid.uuid4(), KEYS)

    assert account == "123456789012"  # moto's account for unknown keys
    assert calls.calls == []


async def test_ssm_send_invocations_and_find_by_comment(aws_env):
    sessions = AwsSessions(Clock(), platform_session=AssumeRoleCalls())
    executor = sessions.executor(uuid.uuid4(), ROLE)
    comment = f"aw-execution:{uuid.uuid4()}"

    command_id = await executor.send(
        RemoteCommand(
            instance_ids=["i-0123456789abcdef0", "i-0fedcba9876543210"],
            document="AWS-RunShellScript",
            commands=["systemctl restart nginx"],
            comment=comment,
            timeout_seconds=300,
        )
    )

    stored = next(c for c in ssm_backends[ACCOUNT][REGION]._commands if c.command_id == command_id)
    assert stored.comment == comment
    assert stored.document_name == "AWS-RunShellScript"
    assert stored.parameters == {"commands": ["systemctl restart nginx"], "executionTimeout": ["300"]}
    assert await executor.find_by_comment(comment) == [command_id]
    assert await executor.find_by_comment(comment + "-other") == []

    # moto always reports Success: one instance failed with output, the other is still running.
    invocation = {i["InstanceId"]: i for i in stored.invocations}
    failed, running = invocation["i-0123456789abcdef0"], invocation["i-0fedcba9876543210"]
    failed.update(Status="Failed", StatusDetails="Failed", StandardErrorContent="x" * 20_000, ResponseCode=1)
    running.update(Status="InProgress", StatusDetails="InProgress")

    by_instance = {i.instance_id: i for i in await executor.invocations(command_id)}

    assert by_instance["i-0123456789abcdef0"].state is CommandState.FAILED
    assert len(by_instance["i-0123456789abcdef0"].stderr) == 8_000  # bounded
    assert by_instance["i-0123456789abcdef0"].finished_at is not None
    assert by_instance["i-0fedcba9876543210"].state is CommandState.IN_PROGRESS
    assert by_instance["i-0fedcba9876543210"].finished_at is None

    running.update(Status="Success", StatusDetails="Success", StandardOutputContent="ok\n")
    failed.update(Status="Failed", StatusDetails="Undeliverable")
    by_instance = {i.instance_id: i for i in await executor.invocations(command_id)}
    assert by_instance["i-0fedcba9876543210"].state is CommandState.SUCCEEDED
    assert by_instance["i-0fedcba9876543210"].stdout == "ok\n"
    assert by_instance["i-0123456789abcdef0"].status_detail == "Undeliverable"
    assert by_instance["i-0123456789abcdef0"].state is CommandState.FAILED


async def test_an_instance_not_reached_yet_is_pending(aws_env):
    sessions = AwsSessions(Clock(), platform_session=AssumeRoleCalls())
    executor = sessions.executor(uuid.uuid4(), KEYS)
    command_id = await executor.send(
        RemoteCommand(["i-0aaaaaaaaaaaaaaa1"], "AWS-RunPowerShellScript", ["Restart-Service W3SVC"], "aw:1")
    )
    stored = next(c for c in ssm_backends["123456789012"][REGION]._commands if c.command_id == command_id)
    stored.invocations.clear()

    [only] = await executor.invocations(command_id)

    assert (only.instance_id, only.state) == ("i-0aaaaaaaaaaaaaaa1", CommandState.PENDING)


@pytest.mark.parametrize(
    ("operation", "aws_code", "status", "code", "field"),
    [
        ("send_command", "AccessDeniedException", 400, "AWS_ACCESS_DENIED", None),
        ("send_command", "ThrottlingException", 400, "AWS_THROTTLED", None),
        ("send_command", "InvalidInstanceId", 400, "AWS_INVALID_INSTANCE", "instanceIds"),
        ("send_command", "InvalidDocument", 400, "AWS_INVALID_DOCUMENT", "document"),
        ("send_command", "UnrecognizedClientException", 400, "AWS_INVALID_CREDENTIALS", None),
        ("send_command", "InternalServerError", 500, "AWS_UNAVAILABLE", None),
    ],
)
async def test_aws_errors_become_typed_errors(aws_env, operation, aws_code, status, code, field, caplog):
    sessions = AwsSessions(Clock(), platform_session=AssumeRoleCalls())
    company = uuid.uuid4()
    client = sessions.client_sync(company, KEYS, "ssm")
    with Stubber(client) as stub:
        stub.add_client_error(
            operation, service_error_code=aws_code, service_message="no", http_status_code=status
        )

        with pytest.raises(AwsError) as caught:
            await sessions.executor(company, KEYS).send(
                RemoteCommand(["i-0123456789abcdef0"], "AWS-RunShellScript", ["true"], "aw:2")
            )

    assert (caught.value.code, caught.value.field) == (code, field)
    assert caught.value.message == f"AWS answered {aws_code}: no" + (
        " (still throttled after retries)" if code == "AWS_THROTTLED" else ""
    )
    assert KEYS.secret_access_key not in caplog.text


async def test_assume_role_refused_is_access_denied(aws_env):
    calls = AssumeRoleCalls()
    sessions = AwsSessions(Clock(), platform_session=calls)
    sts = sessions._platform_sts_client(REGION)
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", service_error_code="AccessDenied", service_message="not trusted")
        with pytest.raises(AwsError) as caught:
            await sessions.identity(uuid.uuid4(), ROLE)
    assert caught.value.code == "AWS_ACCESS_DENIED"


async def test_an_unreachable_endpoint_is_unavailable(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    sessions = AwsSessions(Clock(), config=client_config(max_attempts=1))
    with pytest.raises(AwsError) as caught:
        await sessions.identity(uuid.uuid4(), KEYS)
    assert caught.value.code == "AWS_UNAVAILABLE"


def test_decrypted_access_never_shows_its_secrets_when_printed_or_logged():
    shown = repr(KEYS) + str(ROLE) + f"{KEYS!r}"
    assert KEYS.secret_access_key not in shown
    assert "ext-42" not in shown
    assert ROLE.role_arn in shown
