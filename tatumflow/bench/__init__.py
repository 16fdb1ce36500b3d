"""`tatumflow bench`: model speed (prefill, decode, windows, reply, guidance lanes), peers side by side (the same
model without a KV cache, Notochord with random weights) and the engine (send jitter, JACK end to end).

Entry point: `run.run_bench(BenchConfig(...)) -> dict`; the CLI command and `benchmarks/*/run.py` call it.
"""
