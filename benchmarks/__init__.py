"""Benchmarks of the Varsel hub; see docs/benchmarks.md."""
