"""Email through AWS SES (`sesv2` `SendEmail`): the `domain.ports.Mailer` the mailer loop uses.

The platform's own AWS identity sends (the default credential chain), from the verified sender
`ALERTWHISPERER_EMAIL_FROM`. boto3 is configured the standard way, so `AWS_ENDPOINT_URL_SESV2` (or
`AWS_ENDPOINT_URL`) reaches a test endpoint without code changes. The client is made on the first
send, so a process that never mails never loads boto3.
"""

from __future__ import annotations

import re
import threading
from functools import partial
from typing import Any

from adapters import threads
from domain.ports import EmailMessage

DEFAULT_REGION = "us-east-1"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class SesMailer:
    def __init__(self, sender: str, region: str | None = None, configuration_set: str | None = None) -> None:
        self.sender = sender
        self.region = region
        self.configuration_set = configuration_set
        self._client: Any = None
        self._lock = threading.Lock()

    def _ses(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                from adapters.aws import client_config

                session = boto3.session.Session()
                self._client = session.client(
                    "sesv2",
                    region_name=self.region or session.region_name or DEFAULT_REGION,
                    config=client_config(),
                )
            return self._client

    def _send_sync(self, message: EmailMessage) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        from adapters.aws import translate

        body: dict[str, Any] = {"Text": {"Data": message.text, "Charset": "UTF-8"}}
        if message.html is not None:
            body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": list(message.to)},
            "Content": {"Simple": {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body}},
        }
        if message.idempotency_key:
            # Lets an operator find a notification's mail in SES's event stream.
            request["EmailTags"] = [
                {"Name": "notification", "Value": _TAG_UNSAFE.sub("-", message.idempotency_key)[:256]}
            ]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            answer = self._ses().send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from None
        return str(answer["MessageId"])

    async def send(self, message: EmailMessage) -> str:
        return await threads.run_sync(partial(self._send_sync, message))


def ses_mailer(sender: str | None, region: str | None = None) -> SesMailer | None:
    """SES from the configured sender, or None: notifications stay in-app (the mailer loop says so)."""
    return SesMailer(sender, region) if sender else None
