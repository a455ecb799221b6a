"""Benchmarks behind the design's figures; run with `make bench`."""
