"""The KPI area: `kpis` and `kpisUpdated`, read from the hourly rollups (`db.kpis`)."""
