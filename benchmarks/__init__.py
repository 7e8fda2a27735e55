"""Reproducible performance and model-quality benchmarks; results go to benchmarks/RESULTS.md."""
