"""The benchmark instrument of PumpAPI: `make bench` (see bench/run.py and docs/benchmarks.md)."""
