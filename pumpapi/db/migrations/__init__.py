"""SQL migrations of the telemetry schema, applied in file-name order by `pumpapi.db.migrate`."""
