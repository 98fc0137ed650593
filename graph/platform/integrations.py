"""A company's integrations (one per monitoring tool's ingest URL) and how each authenticates."""

from __future__ import annotations

from typing import Any

import strawberry

from domain.alerts import Tool
from domain.signing import can_sign
from graph.enums import MonitoringTool

REQUIRE_SIGNATURE_DESCRIPTION = (
    "Whether requests to this endpoint must carry `X-Timestamp` and `X-Signature` (refused with 403"
    " otherwise). Set per integration with `companyWebhookSecurityUpdate(input: {integrations})`."
)
CAN_SIGN_DESCRIPTION = (
    "Whether the tool can compute `X-Signature` itself (our JSON from your own sender, a Zabbix webhook"
    " script, a Nagios or Icinga notification command). The others post fixed requests and authenticate"
    " with the API key alone; CloudWatch's SNS envelope carries AWS's signature, verified instead."
)


@strawberry.type(description="One monitoring tool's ingest endpoint for a company, and how it authenticates.")
class WebhookIntegration:
    tool: MonitoringTool = strawberry.field(description="The tool this endpoint takes payloads from.")
    path: str = strawberry.field(description="The ingest URL's path: `/api/webhooks/<tool>`.")
    require_signature: bool = strawberry.field(description=REQUIRE_SIGNATURE_DESCRIPTION)
    can_sign: bool = strawberry.field(description=CAN_SIGN_DESCRIPTION)


@strawberry.input(description="Whether one integration must send signed requests.")
class WebhookIntegrationSigningInput:
    tool: MonitoringTool = strawberry.field(description="The integration (its tool).")
    require_signature: bool = strawberry.field(
        description="Require `X-Timestamp` and `X-Signature` on this endpoint (false: the API key suffices)."
    )


def integrations_of(row: Any) -> list[WebhookIntegration]:
    signed = set(row.signed_integrations or ())
    return [
        WebhookIntegration(
            tool=MonitoringTool(tool.value),
            path=f"/api/webhooks/{tool.value}",
            require_signature=tool.value in signed,
            can_sign=can_sign(tool),
        )
        for tool in Tool
    ]


def signing_changes(inputs: list[WebhookIntegrationSigningInput] | None) -> list[tuple[Tool, bool]]:
    return [(Tool(i.tool.value), i.require_signature) for i in inputs or []]
