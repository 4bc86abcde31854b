"""Benchmark evaluation: dataset loaders, the resumable batch runner, scoring and reports."""
