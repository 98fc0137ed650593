"""Root fields of the incident area (merged into the schema's Query, Mutation and Subscription)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graph.core import Connection
from graph.incidents import analysis, assignment, mutations, queries, subscriptions
from graph.incidents.types import Alert, Incident, IncidentChangedEvent, MaintenanceWindow


@strawberry.type
class IncidentQuery:
    analysis_settings: analysis.AnalysisSettings | None = strawberry.field(
        resolver=analysis.analysis_settings,
        description="A company's LLM analysis settings and this month's usage (company and MSP admins; null "
        "otherwise).",
    )
    alerts: Connection[Alert] = strawberry.field(
        resolver=queries.alerts, description="Alerts you may see, newest received first."
    )
    alert: Alert | None = strawberry.field(
        resolver=queries.alert,
        description="One alert by global ID (null if it does not exist or is not yours).",
    )
    incidents: Connection[Incident] = strawberry.field(
        resolver=queries.incidents,
        description="Incidents you may see, newest first unless `orderBy` says otherwise.",
    )
    incident: Incident | None = strawberry.field(
        resolver=queries.incident,
        description="One incident by global ID (null if it does not exist or is not yours).",
    )
    maintenance_windows: Connection[MaintenanceWindow] = strawberry.field(
        resolver=queries.maintenance_windows,
        description="Maintenance windows you may see, latest start first.",
    )


@strawberry.type
class IncidentMutation:
    correlation_config_update: mutations.CorrelationConfigUpdatePayload = strawberry.mutation(
        resolver=mutations.correlation_config_update,
        description="Change how a company's alerts are grouped into incidents (company and MSP admins).",
    )
    maintenance_window_create: mutations.MaintenanceWindowCreatePayload = strawberry.mutation(
        resolver=mutations.maintenance_window_create,
        description="Create a one-off or recurring maintenance window (company and MSP admins).",
    )
    maintenance_window_delete: mutations.MaintenanceWindowDeletePayload = strawberry.mutation(
        resolver=mutations.maintenance_window_delete,
        description="Delete a maintenance window (company and MSP admins).",
    )
    incident_acknowledge: mutations.IncidentPayload = strawberry.mutation(
        resolver=mutations.incident_acknowledge,
        description="Acknowledge an incident: someone owns it (from any open status but ACKNOWLEDGED).",
    )
    incident_start_work: mutations.IncidentPayload = strawberry.mutation(
        resolver=mutations.incident_start_work,
        description="Mark an incident IN_PROGRESS: work on it has started (from any open status).",
    )
    incident_escalate: mutations.IncidentPayload = strawberry.mutation(
        resolver=mutations.incident_escalate,
        description="Mark an incident ESCALATED: it needs more senior or other help (from any open status).",
    )
    incident_wait_on_client: mutations.IncidentPayload = strawberry.mutation(
        resolver=mutations.incident_wait_on_client,
        description="Mark an incident WAITING_ON_CLIENT: it waits for the client's answer or action"
        " (from ACKNOWLEDGED, IN_PROGRESS or ESCALATED).",
    )
    incident_resolve: mutations.IncidentPayload = strawberry.mutation(
        resolver=mutations.incident_resolve,
        description="Resolve an open incident by hand; its open alerts are closed with it.",
    )
    incident_reopen: mutations.IncidentPayload = strawberry.mutation(
        resolver=mutations.incident_reopen, description="Reopen a resolved incident (status NEW)."
    )
    incident_assign: mutations.IncidentPayload = strawberry.mutation(
        resolver=assignment.incident_assign,
        description="Give an unassigned open incident to a technician of its company (company and MSP admins); "
        "they are notified.",
    )
    incident_reassign: mutations.IncidentPayload = strawberry.mutation(
        resolver=assignment.incident_reassign,
        description="Move an assigned open incident to another technician of its company (company and MSP admins).",
    )
    company_analysis_update: analysis.CompanyAnalysisUpdatePayload = strawberry.mutation(
        resolver=analysis.company_analysis_update,
        description="Turn LLM analysis of a company's incidents on or off and set its monthly token budget "
        "(company and MSP admins).",
    )
    incident_comment: mutations.IncidentPayload = strawberry.mutation(
        resolver=assignment.incident_comment,
        description="Add a comment to an incident's timeline (whoever works its incidents).",
    )


@strawberry.type
class IncidentSubscription:
    alert_received: AsyncGenerator[Alert, None] = strawberry.subscription(
        resolver=subscriptions.alert_received,
        description="Every alert stored for your companies (or one company), as it commits.",
    )
    incident_changed: AsyncGenerator[IncidentChangedEvent, None] = strawberry.subscription(
        resolver=subscriptions.incident_changed,
        description="Every incident created, updated or resolved in your companies (or one company).",
    )
