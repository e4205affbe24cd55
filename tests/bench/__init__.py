"""`make bench`: throughput, CPU, latency and outbox figures of the gateway on real components.

Every figure is measured on this machine at run time (nothing is hard-coded), all traffic stays on
127.0.0.1, and each printed figure carries one line saying how it was measured. Run with
`python -m tests.bench`; the figures are also written to run/bench.json.
"""
