"""Tests of the telemetry store (pumpapi.db) and the private PostgreSQL cluster
(pumpapi.devtools.localpg)."""
