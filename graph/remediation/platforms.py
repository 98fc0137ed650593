"""The `Platform` enum, apart from the other remediation types because assets (graph.platform) use it
too and graph.remediation.types imports graph.platform.types."""

from __future__ import annotations

import enum

import strawberry


@strawberry.enum(description="The operating system a runbook's commands (or an asset) run on.")
class Platform(enum.Enum):
    LINUX = strawberry.enum_value(
        "LINUX", description="Linux: commands run as a shell script (AWS-RunShellScript)."
    )
    WINDOWS = strawberry.enum_value(
        "WINDOWS", description="Windows: commands run as a PowerShell script (AWS-RunPowerShellScript)."
    )
