"""Who is on call for a company now: the assignment's one question about schedules.

Until schedules exist, a technician's `on_call` flag (set by admins) says it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from db.pool import Conn

ON_CALL = """
SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
WHERE m.company_id = $1 AND u.is_active AND u.on_call
"""


async def on_call_user_ids(conn: Conn, company_id: uuid.UUID, at: datetime) -> set[uuid.UUID]:
    """The active users on call at `at` for the company."""
    return {r["id"] for r in await conn.fetch(ON_CALL, company_id)}
