"""Benchmark harness of issue 5 (see benchmarks/README.md); never part of the test suite."""
