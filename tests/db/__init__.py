"""Tests of the telemetry store (pumpapi.db) and the local PostgreSQL cluster (pumpapi.localpg)."""
