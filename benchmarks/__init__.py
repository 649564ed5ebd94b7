"""Benchmarks: `python -m benchmarks.NAME [--write]` prints a table and, with --write,
updates its section of BENCHMARKS.md (quality: models/README.md)."""
