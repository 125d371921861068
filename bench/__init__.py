"""Benchmarks of qbraid-keys-ext, each figure a ratio to a baseline measured in the same run.

`python -m bench [--quick]` from the repository root prints a table and writes
`bench/RESULTS.md`. Loopback only; every server and client it starts stops by itself.
"""
