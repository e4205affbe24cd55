"""Many gateways on one broker (`make fleet`, issue 12 section 7).

N simulated sensor-only gateways, each with its own client identity and certificate and the
gateway's own privacy door, SQLite outbox and MQTT publisher (`gateways.py`), hosted a few hundred
threads to a process (`worker.py`), publish through one Mosquitto with mutual TLS and the ACL that
`gateway.tools.acl` generates (`broker.py`) to one subscriber per actor and an operator
(`subscribers.py`). `run.py` takes the fleet through its phases, `procstat.py` samples /proc,
`figures.py` and `report.py` turn it into figures. `python -m tests.fleet --help`.
"""
