"""The fleet tool (`make fleet`, tests/fleet/) runs: five gateways, a few seconds, nothing lost.

Keeps `python -m tests.fleet` from rotting without measuring anything: the figures come from
`make fleet`, never from a test. Five simulated gateways in one worker process connect with their
own certificates through the generated ACL, raise events for two seconds, and every actor's
subscriber and the operator receive every message meant for them, once.
"""

from __future__ import annotations

from pathlib import Path

from tests.fleet.run import Fleet, Options


def test_five_gateways_deliver_everything(tmp_path: Path) -> None:
    options = Options(gateways=5, processes=1, health_interval_s=0.5)
    with Fleet(tmp_path, options) as fleet:
        connect = fleet.connect()
        assert connect["connected"] == 5, connect
        assert all(codes == [1] for codes in connect["subacks"].values()), connect["subacks"]
        result = fleet.phase("smoke", rate=4.0, seconds=2.0, offered_msg_s=0)
    assert result.stored > 10, result
    assert result.lost == 0, result.failures()
    delivered = {name: d.received for name, d in result.deliveries.items()}
    assert delivered["operator"] == result.stored, delivered
    assert delivered["gemeente"] > 0 and delivered["politie"] == 0, delivered
    assert all(d.duplicates == 0 for d in result.deliveries.values()), result.deliveries
    assert result.health_msgs > 0
    # Every delivery is matched with the moment its gateway stored it (timing itself is `make fleet`'s).
    assert all(len(d.latencies) == d.received for d in result.deliveries.values())
