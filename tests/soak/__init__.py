"""The fault soak: a simulated site on real components, faults injected on a seeded schedule.

`python -m tests.soak --minutes M --seed S --out run/soak` (`make soak` runs an hour); a 5-minute run
is a test in `make test` (tests/soak/test_soak.py). What it injects, observes and judges:
schedule.py, faults.py, accounting.py and report.py.
"""
