"""AWS for one company at a time: credentials (an assumed role or a key pair), boto3 clients, SSM.

boto3 is configured the standard way: it reads `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_STS`,
`AWS_ENDPOINT_URL_SSM` (and the rest of its environment and config files) itself, so a test endpoint
needs no code change; no endpoint is ever set here. The platform's own credentials (the default
chain) are used only to assume a company's role; a company with a key pair uses its keys.

Temporary credentials are cached per company and renewed `renew_before` ahead of their expiry, by
the injected clock. Clients are created once per (company, credentials) and every call runs in a
worker thread (boto3 is synchronous). botocore retries throttling itself (`retry_mode`, `max_attempts`);
what still fails becomes an `AwsError` with a code, never a stack trace.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from adapters import threads
from domain.aws import AwsAccess, AwsAuthType, AwsError
from domain.kpis import InstancePatchState
from domain.ports import Clock, CommandState, Invocation, RemoteCommand

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

log = logging.getLogger(__name__)

ROLE_SESSION_NAME = "alertwhisperer"
#: What the platform's own identity is called in CloudTrail when it acts in a client's account.
ROLE_DURATION_SECONDS = 3600
RENEW_BEFORE = timedelta(minutes=5)
OUTPUT_LIMIT = 8_000  # characters of stdout and of stderr kept per instance
COMMENT_LIMIT = 100  # SendCommand's limit
#: An instance the command has not reached yet (the executor answers PENDING; never shown to clients).
INVOCATION_MISSING = "AWS_INVOCATION_MISSING"

_ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnauthorizedException",
}
_INVALID_CREDENTIALS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "InvalidSecurity",
    "IncompleteSignature",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ThrottledException",
}
_INVALID_INSTANCE = {"InvalidInstanceId", "InvalidInstanceInformationFilterValue"}
_INVALID_DOCUMENT = {"InvalidDocument", "InvalidParameters", "InvalidDocumentVersion"}

#: SSM's invocation statuses (and status details) as command states.
SSM_STATES = {
    "Pending": CommandState.PENDING,
    "Delayed": CommandState.PENDING,
    "InProgress": CommandState.IN_PROGRESS,
    "Cancelling": CommandState.IN_PROGRESS,
    "Success": CommandState.SUCCEEDED,
    "Cancelled": CommandState.CANCELLED,
    "TimedOut": CommandState.TIMED_OUT,
    "DeliveryTimedOut": CommandState.TIMED_OUT,
    "ExecutionTimedOut": CommandState.TIMED_OUT,
    "Failed": CommandState.FAILED,
    "Undeliverable": CommandState.FAILED,
    "Terminated": CommandState.FAILED,
    "InvalidPlatform": CommandState.FAILED,
    "AccessDenied": CommandState.FAILED,
}


def client_config(retry_mode: str = "standard", max_attempts: int = 5) -> Config:
    """Timeouts and botocore's own retries (throttling, 5xx); no endpoint, so the environment's applies."""
    from botocore.config import Config

    return Config(
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra="alertwhisperer",
    )


def translate(exc: Exception) -> AwsError:
    """An AWS or botocore failure as an `AwsError` a client can act on."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        aws_code = str(error.get("Code", ""))
        detail = str(error.get("Message", ""))[:300]
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        what = f"AWS answered {aws_code}" + (f": {detail}" if detail else "")
        if aws_code in _ACCESS_DENIED:
            return AwsError(what, code="AWS_ACCESS_DENIED")
        if aws_code in _INVALID_CREDENTIALS:
            return AwsError(what, code="AWS_INVALID_CREDENTIALS")
        if aws_code in _THROTTLED:
            return AwsError(what + " (still throttled after retries)", code="AWS_THROTTLED")
        if aws_code in _INVALID_INSTANCE:
            return AwsError(what, field="instanceIds", code="AWS_INVALID_INSTANCE")
        if aws_code == "InvocationDoesNotExist":
            return AwsError(what, code=INVOCATION_MISSING)
        if aws_code in _INVALID_DOCUMENT:
            return AwsError(what, field="document", code="AWS_INVALID_DOCUMENT")
        if status >= 500 or aws_code in {"InternalServerError", "ServiceUnavailable", "InternalError"}:
            return AwsError(what, code="AWS_UNAVAILABLE")
        return AwsError(what, code="AWS_ERROR")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            "the platform has no AWS credentials to assume the role with", code="AWS_INVALID_CREDENTIALS"
        )
    if isinstance(
        exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError
    ):
        return AwsError("AWS could not be reached", code="AWS_UNAVAILABLE")
    if isinstance(exc, BotoCoreError):
        return AwsError(f"AWS call failed: {type(exc).__name__}", code="AWS_ERROR")
    raise exc


@dataclass
class _Temporary:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


@dataclass
class _CompanyEntry:
    fingerprint: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    temporary: _Temporary | None = None
    clients: dict[str, Any] = field(default_factory=dict)


def _platform_session() -> boto3.session.Session:
    import boto3

    return boto3.session.Session()


class AwsSessions:
    """Credentials and clients per company; thread-safe (calls run in worker threads)."""

    def __init__(
        self,
        clock: Clock,
        *,
        config: Config | None = None,
        renew_before: timedelta = RENEW_BEFORE,
        role_duration_seconds: int = ROLE_DURATION_SECONDS,
        platform_session: Callable[[], boto3.session.Session] | None = None,
    ) -> None:
        self.clock = clock
        self._config = config
        self.renew_before = renew_before
        self.role_duration_seconds = role_duration_seconds
        self._platform_session = platform_session or _platform_session
        self._lock = threading.Lock()
        self._companies: dict[uuid.UUID, _CompanyEntry] = {}
        self._platform_sts: dict[str, Any] = {}
        #: Every client made, in order (tests read it to see clients are reused).
        self.clients_created = 0

    @property
    def config(self) -> Config:
        """botocore's client settings, made on first use: a process that never calls AWS never loads
        boto3 (about 24 MiB of an idle API process)."""
        if self._config is None:
            self._config = client_config()
        return self._config

    # ---- credentials and clients (in a worker thread) ----

    def _entry(self, company_id: uuid.UUID, access: AwsAccess) -> _CompanyEntry:
        with self._lock:
            entry = self._companies.get(company_id)
            if entry is None or entry.fingerprint != access.fingerprint:
                # New settings: the old credentials and clients are dropped with the old entry.
                entry = self._companies[company_id] = _CompanyEntry(access.fingerprint)
            return entry

    def _platform_sts_client(self, region: str) -> Any:
        with self._lock:
            client = self._platform_sts.get(region)
            if client is None:
                client = self._platform_session().client("sts", region_name=region, config=self.config)
                self._platform_sts[region] = client
                self.clients_created += 1
            return client

    def _assume(self, company_id: uuid.UUID, access: AwsAccess) -> _Temporary:
        answer = self._platform_sts_client(access.region).assume_role(
            RoleArn=access.role_arn,
            RoleSessionName=f"{ROLE_SESSION_NAME}-{company_id.hex[:12]}",
            ExternalId=access.external_id,
            DurationSeconds=self.role_duration_seconds,
        )
        c = answer["Credentials"]
        log.info("assumed %s for company %s until %s", access.role_arn, company_id, c["Expiration"])
        return _Temporary(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"])

    def client_sync(self, company_id: uuid.UUID, access: AwsAccess, service: str) -> Any:
        entry = self._entry(company_id, access)
        with entry.lock:
            if access.auth_type is AwsAuthType.ROLE:
                t = entry.temporary
                if t is None or self.clock.now() >= t.expiration - self.renew_before:
                    entry.temporary = self._assume(company_id, access)
                    entry.clients.clear()  # they hold the old temporary credentials
            client = entry.clients.get(service)
            if client is None:
                client = self._session(entry, access).client(service, config=self.config)
                entry.clients[service] = client
                self.clients_created += 1
            return client

    def _session(self, entry: _CompanyEntry, access: AwsAccess) -> boto3.session.Session:
        import boto3

        if access.auth_type is AwsAuthType.ROLE:
            t = entry.temporary
            assert t is not None
            return boto3.session.Session(
                aws_access_key_id=t.access_key_id,
                aws_secret_access_key=t.secret_access_key,
                aws_session_token=t.session_token,
                region_name=access.region,
            )
        return boto3.session.Session(
            aws_access_key_id=access.access_key_id,
            aws_secret_access_key=access.secret_access_key,
            region_name=access.region,
        )

    def _call_sync(
        self, company_id: uuid.UUID, access: AwsAccess, service: str, operation: str, kwargs: Any
    ) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client_sync(company_id, access, service), operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            error = translate(exc)
            log.warning("AWS %s.%s for company %s failed: %s", service, operation, company_id, error.code)
            raise error from None

    # ---- the async API ----

    async def call(
        self, company_id: uuid.UUID, access: AwsAccess, service: str, operation: str, **kwargs: Any
    ) -> Any:
        """One AWS API call for the company, in a worker thread; AwsError on failure."""
        return await threads.run_sync(
            partial(self._call_sync, company_id, access, service, operation, kwargs)
        )

    async def identity(self, company_id: uuid.UUID, access: AwsAccess) -> tuple[str, str]:
        """(account id, ARN) the company's credentials act as (the role is assumed first)."""
        answer = await self.call(company_id, access, "sts", "get_caller_identity")
        return str(answer["Account"]), str(answer["Arn"])

    def executor(self, company_id: uuid.UUID, access: AwsAccess) -> SsmExecutor:
        return SsmExecutor(self, company_id, access)

    def patch_states(self, company_id: uuid.UUID, access: AwsAccess) -> SsmPatchStates:
        return SsmPatchStates(self, company_id, access)

    def forget(self, company_id: uuid.UUID) -> None:
        """Drop a company's credentials and clients (its settings were cleared)."""
        with self._lock:
            self._companies.pop(company_id, None)


def _bounded(text: str | None, limit: int = OUTPUT_LIMIT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SsmExecutor:
    """`domain.ports.RemoteExecutor` through SSM Run Command, for one company."""

    def __init__(self, sessions: AwsSessions, company_id: uuid.UUID, access: AwsAccess) -> None:
        self.sessions = sessions
        self.company_id = company_id
        self.access = access

    async def _ssm(self, operation: str, **kwargs: Any) -> Any:
        return await self.sessions.call(self.company_id, self.access, "ssm", operation, **kwargs)

    async def send(self, command: RemoteCommand) -> str:
        if not command.instance_ids:
            raise AwsError(
                "at least one instance is needed", field="instanceIds", code="AWS_INVALID_INSTANCE"
            )
        if len(command.comment) > COMMENT_LIMIT:
            raise ValueError(f"an SSM comment holds at most {COMMENT_LIMIT} characters")
        answer = await self._ssm(
            "send_command",
            InstanceIds=list(command.instance_ids),
            DocumentName=command.document,
            Parameters={
                "commands": list(command.commands),
                "executionTimeout": [str(command.timeout_seconds)],
            },
            Comment=command.comment,
        )
        return str(answer["Command"]["CommandId"])

    async def invocations(self, command_id: str) -> list[Invocation]:
        # One GetCommandInvocation per instance: it carries the status details and up to 24,000
        # characters of each stream (ListCommandInvocations only 2,500).
        page = await self._ssm("list_commands", CommandId=command_id)
        commands = page.get("Commands", [])
        if not commands:
            return []
        return [await self._invocation(command_id, str(i)) for i in commands[0].get("InstanceIds", [])]

    async def _invocation(self, command_id: str, instance_id: str) -> Invocation:
        try:
            one = await self._ssm("get_command_invocation", CommandId=command_id, InstanceId=instance_id)
        except AwsError as exc:
            if exc.code != INVOCATION_MISSING:
                raise
            return Invocation(instance_id, CommandState.PENDING, "Pending")  # not delivered yet
        status = str(one.get("Status") or "Pending")
        detail = str(one.get("StatusDetails") or status)
        state = SSM_STATES.get(detail, SSM_STATES.get(status, CommandState.IN_PROGRESS))
        return Invocation(
            instance_id=instance_id,
            state=state,
            status_detail=detail,
            stdout=_bounded(one.get("StandardOutputContent")),
            stderr=_bounded(one.get("StandardErrorContent")),
            started_at=_when(one.get("ExecutionStartDateTime")),
            finished_at=_when(one.get("ExecutionEndDateTime")) if state.final else None,
        )

    async def find_by_comment(self, comment: str) -> list[str]:
        ids: list[tuple[Any, str]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"MaxResults": 50}
            if token:
                kwargs["NextToken"] = token
            page = await self._ssm("list_commands", **kwargs)
            for c in page.get("Commands", []):
                if c.get("Comment") == comment:
                    ids.append((c.get("RequestedDateTime"), str(c["CommandId"])))
            token = page.get("NextToken")
            if not token:
                break
        ids.sort(key=lambda pair: pair[0] or 0, reverse=True)
        return [command_id for _, command_id in ids]


def _when(value: Any) -> datetime | None:
    """SSM's times: datetimes from botocore, or ISO strings in get_command_invocation's answer."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


#: DescribeInstancePatchStates takes at most 50 instance ids a call; DescribeInstanceInformation
#: answers at most 50 a page.
PATCH_STATES_CHUNK = 50


class SsmPatchStates:
    """A company's managed instances and their patch states, through SSM (botocore retries
    throttling; what still fails is an AwsError)."""

    def __init__(self, sessions: AwsSessions, company_id: uuid.UUID, access: AwsAccess) -> None:
        self.sessions = sessions
        self.company_id = company_id
        self.access = access

    async def _ssm(self, operation: str, **kwargs: Any) -> Any:
        return await self.sessions.call(self.company_id, self.access, "ssm", operation, **kwargs)

    async def instance_ids(self) -> list[str]:
        """Every instance SSM manages for the company (DescribeInstanceInformation, all pages)."""
        ids: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"MaxResults": PATCH_STATES_CHUNK}
            if token:
                kwargs["NextToken"] = token
            answer = await self._ssm("describe_instance_information", **kwargs)
            ids.extend(i["InstanceId"] for i in answer.get("InstanceInformationList", []))
            token = answer.get("NextToken")
            if not token:
                return ids

    async def patch_states(self) -> list[InstancePatchState]:
        """The patch state of each managed instance SSM has one for (an instance never scanned has
        none, and is left out)."""
        ids = await self.instance_ids()
        states: list[InstancePatchState] = []
        for start in range(0, len(ids), PATCH_STATES_CHUNK):
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"InstanceIds": ids[start : start + PATCH_STATES_CHUNK]}
                if token:
                    kwargs["NextToken"] = token
                answer = await self._ssm("describe_instance_patch_states", **kwargs)
                for s in answer.get("InstancePatchStates", []):
                    states.append(
                        InstancePatchState(
                            instance_id=s["InstanceId"],
                            baseline_id=s.get("BaselineId"),
                            patch_group=s.get("PatchGroup"),
                            installed=int(s.get("InstalledCount", 0)),
                            installed_other=int(s.get("InstalledOtherCount", 0)),
                            installed_pending_reboot=int(s.get("InstalledPendingRebootCount", 0)),
                            installed_rejected=int(s.get("InstalledRejectedCount", 0)),
                            missing=int(s.get("MissingCount", 0)),
                            failed=int(s.get("FailedCount", 0)),
                            not_applicable=int(s.get("NotApplicableCount", 0)),
                            operation=s.get("Operation"),
                            operation_end_time=_when(s.get("OperationEndTime")),
                        )
                    )
                token = answer.get("NextToken")
                if not token:
                    break
        return states
