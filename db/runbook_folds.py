"""Runbook matching's view of an incident batch: each company's alias rules, read once, and the
signatures of an incident row as runbooks are matched against them. Shared by the `decisions` and
`analysis` reactions, which must match runbooks the same way (`domain.runbooks.best_runbook`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from domain.runbooks import IncidentSignatures, RunbookFolds, incident_signatures
from domain.signatures import alias_rules

if TYPE_CHECKING:
    from db.pool import Conn

# A company's alias rules, read once per batch and only for the companies that have any (`has_aliases`):
# runbook signatures are folded under them (`domain.runbooks.RunbookFolds`).
ALIASES = "SELECT company_id, canonical, problems FROM signature_aliases WHERE company_id = ANY($1::uuid[])"


async def batch_folds(conn: Conn, incidents: Sequence[Any]) -> defaultdict[uuid.UUID, RunbookFolds]:
    """One `RunbookFolds` per company of `incidents` (rows with `company_id` and `has_aliases`), under
    the company's alias rules; the rules are read in one statement, for the companies that have any."""
    with_aliases = list({r["company_id"] for r in incidents if r["has_aliases"]})
    groups: defaultdict[uuid.UUID, list[tuple[str, list[str]]]] = defaultdict(list)
    if with_aliases:
        for g in await conn.fetch(ALIASES, with_aliases):
            groups[g["company_id"]].append((g["canonical"], g["problems"]))
    # Companies without rules share one: the global runbooks are then folded once for all of them.
    plain = RunbookFolds()
    folds: defaultdict[uuid.UUID, RunbookFolds] = defaultdict(lambda: plain)
    for company_id, company_groups in groups.items():
        folds[company_id] = RunbookFolds(alias_rules(company_groups))
    return folds


def incident_signatures_of(row: Any, folds: RunbookFolds) -> IncidentSignatures:
    """The signatures of an incident row (`signature`, `signatures`, `canonical_signature`,
    `asset_name`) as runbooks are matched against them."""
    return incident_signatures(
        row["signature"],
        row["signatures"] or (),
        row["canonical_signature"],
        asset_name=row["asset_name"] or "",
        aliases=folds.aliases,
    )
