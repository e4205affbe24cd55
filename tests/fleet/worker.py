"""`python -m tests.fleet.worker SPEC.json`: one process hosting many simulated gateways.

Each gateway is a `SimGateway` (its own paho client, TLS identity, outbox and threads); one driver
loop, the process's main thread, raises every gateway's events on a seeded Poisson schedule and
its retained health every `health_interval_s`. Requests (JSON lines, `tests.fleet.channel`):

- `connect`: start every gateway at once; the monotonic start and CONNACK time of each.
- `run {rate, seconds, health}`: `rate` events/s per gateway for `seconds`; what was stored when.
- `drain {timeout}`: wait until every outbox is empty.
- `await {connected, timeout}`: wait until every gateway is (dis)connected (a broker restart).
- `stop`: every gateway stops (retained `offline`) and the process exits.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.privacy.policy import load_policy
from tests.fleet.channel import serve
from tests.fleet.gateways import SOURCES, Identity, SimGateway

POLL_S = 0.005  # how often the connection state of every gateway is looked at while waiting
EVENT, HEALTH = 0, 1


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (each gateway holds ~6 descriptors); (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Worker:
    """The gateways of one process and the requests that drive them."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.limits = raise_fd_limit()
        self.host, self.port = spec["host"], int(spec["port"])
        self.health_s = float(spec["health_interval_s"])
        policy = load_policy()
        storage = Path(spec["storage"])
        storage.mkdir(parents=True, exist_ok=True)
        seed = int(spec["seed"])
        self.rng = random.Random(seed)
        self.gateways = [
            SimGateway(Identity.from_json(raw), policy, Path(spec["ca"]), storage, seed * 100_003 + i)
            for i, raw in enumerate(spec["gateways"])
        ]

    def connect(self, request: dict[str, Any]) -> dict[str, Any]:
        """Start all, wait (bounded) for every CONNACK; [start, connected or None] per gateway."""
        timeout = float(request.get("timeout", 60))
        started = []
        for gw in self.gateways:
            started.append(time.monotonic())
            gw.start(self.host, self.port)
        connected = self._wait(True, timeout)
        return {"times": [[s, c] for s, c in zip(started, connected, strict=True)], "limits": self.limits}

    def _wait(self, want: bool, timeout: float) -> list[float | None]:
        """When each gateway reached `want` (connected or not), None if not within `timeout`."""
        deadline = time.monotonic() + timeout
        reached: list[float | None] = [None] * len(self.gateways)
        while True:
            now = time.monotonic()
            for i, gw in enumerate(self.gateways):
                if reached[i] is None and gw.publisher.connected == want:
                    reached[i] = now
            if all(t is not None for t in reached) or now > deadline:
                return reached
            time.sleep(POLL_S)

    def await_state(self, request: dict[str, Any]) -> dict[str, Any]:
        """Wait until every gateway is connected (or disconnected); when each got there."""
        return {"times": self._wait(bool(request["connected"]), float(request["timeout"]))}

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Raise events at `rate` per gateway (and health) for `seconds`; every stored message."""
        rate, seconds = float(request["rate"]), float(request["seconds"])
        start = time.monotonic()
        end = start + seconds
        queue: list[tuple[float, int, int]] = []
        for i in range(len(self.gateways)):
            if rate > 0:
                queue.append((start + self.rng.expovariate(rate), EVENT, i))
            if request.get("health", True):
                queue.append((start + self.rng.uniform(0, self.health_s), HEALTH, i))
        heapq.heapify(queue)
        stored: list[tuple[str, bytes, float]] = []
        events = health = 0
        behind = 0.0
        while queue and queue[0][0] <= end:
            due, kind, i = queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # pacing a schedule: each arrival is due at its own time
            gap = self.rng.expovariate(rate) if kind == EVENT else self.health_s
            heapq.heapreplace(queue, (due + gap, kind, i))
            now = time.monotonic()
            behind = max(behind, now - due)
            if kind == EVENT:
                stored += [(topic, payload, now) for topic, payload in self.gateways[i].emit()]
                events += 1
            else:
                self.gateways[i].health.publish()
                health += 1
        elapsed = time.monotonic() - start
        return {
            "stored": [[topic, json.loads(payload)["id"], t] for topic, payload, t in stored],
            "events": events,
            "health": health * len(SOURCES),  # retained source statuses, one per source
            "elapsed_s": elapsed,
            "behind_s": behind,
        }

    def drain(self, request: dict[str, Any]) -> dict[str, Any]:
        """Wait (bounded) until every outbox is empty; the rows left."""
        deadline = time.monotonic() + float(request["timeout"])
        while True:
            pending = sum(len(gw.outbox) for gw in self.gateways)
            if pending == 0 or time.monotonic() > deadline:
                return {"pending": pending}
            time.sleep(0.05)

    def stop(self, _request: dict[str, Any]) -> dict[str, Any]:
        """Stop every gateway, in parallel (each waits up to 1.5 s for its last acks)."""
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda gw: gw.stop(), self.gateways))
        return {"stopped": len(self.gateways), "commands": sum(gw.commands for gw in self.gateways)}


def main(argv: list[str]) -> int:
    """Build the gateways from the spec file, say so, then answer requests until `stop`."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec = json.loads(Path(argv[0]).read_text())
    built = time.monotonic()
    worker = Worker(spec)
    sys.stdout.write(json.dumps({"ready": len(worker.gateways), "build_s": time.monotonic() - built}) + "\n")
    sys.stdout.flush()
    serve(
        {
            "connect": worker.connect,
            "run": worker.run,
            "drain": worker.drain,
            "await": worker.await_state,
            "stop": worker.stop,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
