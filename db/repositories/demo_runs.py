"""Demo runs read on the raw pool within the caller's tenant scope (`demoRun`, `demoProgress`)."""

from __future__ import annotations

from db.repositories.base import RawRowsById
from db.tables import DemoRun

demo_run_rows = RawRowsById(DemoRun)
