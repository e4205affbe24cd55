"""One fleet of N gateways on one broker, run through its phases: connect, steady, ramp, broker restart.

The processes: one Mosquitto (mutual TLS, generated ACL), `processes` worker processes hosting the
gateways (`tests.fleet.worker`), and two subscriber processes (`tests.fleet.subscribers`): the six
actors in one, the operator reading everything in the other. This process only directs them and
samples /proc. Outboxes live on /dev/shm when there is one: an SD card's fsync is the pole's cost,
and here it would be the load generator's, not the broker's.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from gateway.privacy.policy import load_policy
from tests.fleet.broker import FD_EXHAUSTED, FleetBroker, FleetPki
from tests.fleet.channel import Child
from tests.fleet.figures import Delivery, Key, PhaseResult, percentile
from tests.fleet.gateways import publications_per_event
from tests.fleet.procstat import Sampler, nofile

SETTLE_TIMEOUT_S = 30.0  # after a phase, how long deliveries may still trickle in
START_TIMEOUT_S = 180.0  # building hundreds of gateways (keys, TLS contexts, SQLite files) per process


@dataclass(frozen=True, slots=True)
class Options:
    """What one fleet run does."""

    gateways: int
    processes: int
    steady_s: float = 20.0
    steady_rate: float = 1 / 60  # events per gateway per second on a busy day (plus health)
    ramp: tuple[float, ...] = (250, 500, 750, 1000, 1500, 2000, 3000, 4000)  # event messages/s, fleet-wide
    step_s: float = 10.0
    health_interval_s: float = 10.0  # the gateway's default
    restart: bool = True
    broker_nofile: int | None = None
    seed: int = 12
    connect_timeout_s: float = 120.0


def default_processes(gateways: int) -> int:
    """Worker processes for a fleet: at least 2, at most 125 gateways (250 threads) each."""
    return max(2, math.ceil(gateways / 125))


class Fleet:
    """The broker, the worker and subscriber processes of one run, and the phases they go through."""

    def __init__(self, workdir: Path, options: Options) -> None:
        self.options = options
        self.workdir = workdir
        self.policy = load_policy()
        self.pki = FleetPki.create(workdir / "pki", options.gateways, self.policy)
        self.sampler = Sampler()
        self.children: dict[str, Child] = {}
        shm = Path("/dev/shm")
        self.storage = Path(tempfile.mkdtemp(prefix="edge-fleet-", dir=shm if shm.is_dir() else workdir))
        self.broker = FleetBroker(
            workdir / "broker", self.pki.ca, self.pki.acl(self.policy), options.broker_nofile
        )

    def __enter__(self) -> Self:
        self.broker.start()
        self.sampler.watch("broker", self.broker.pid)
        self.sampler.start()
        self._spawn_subscribers()
        self._spawn_workers()
        for child in self.children.values():
            child.reply(START_TIMEOUT_S)  # "ready"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for child in self.children.values():
            with contextlib.suppress(Exception):  # closing everything matters more than one error
                child.close()
        self.sampler.stop()
        self.broker.stop()
        shutil.rmtree(self.storage, ignore_errors=True)

    def _spec(self, name: str, body: dict[str, Any]) -> Path:
        path = self.workdir / "spec" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        common = {"host": self.broker.host, "port": self.broker.port, "ca": str(self.pki.ca.cert)}
        path.write_text(json.dumps(common | body))
        return path

    def _spawn(self, module: str, name: str, body: dict[str, Any]) -> None:
        child = Child(module, self._spec(name, body), self.workdir / "logs" / f"{name}.log")
        self.children[name] = child
        self.sampler.watch(name, child.pid)

    def _spawn_subscribers(self) -> None:
        clients = {
            name: {"filter": topic, "cert": str(creds.cert), "key": str(creds.key)}
            for name, (topic, creds) in self.pki.clients.items()
        }
        operator = {"operator": clients.pop("operator")}
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self._spawn("tests.fleet.subscribers", "subscribers-actors", {"clients": clients})
        self._spawn("tests.fleet.subscribers", "subscribers-operator", {"clients": operator})

    def _spawn_workers(self) -> None:
        per = math.ceil(self.options.gateways / self.options.processes)
        for w in range(self.options.processes):
            chunk = self.pki.gateways[w * per : (w + 1) * per]
            if chunk:
                body = {
                    "gateways": [g.to_json() for g in chunk],
                    "storage": str(self.storage / f"worker-{w}"),
                    "seed": self.options.seed * 1000 + w,
                    "health_interval_s": self.options.health_interval_s,
                }
                self._spawn("tests.fleet.worker", f"worker-{w}", body)

    def _group(self, prefix: str) -> list[Child]:
        return [c for name, c in self.children.items() if name.startswith(prefix)]

    def _all(self, prefix: str, request: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """Send one request to every child named `prefix*` at once; their replies."""
        group = self._group(prefix)
        for child in group:
            child.send(request)
        return [child.reply(timeout) for child in group]

    def connect(self) -> dict[str, Any]:
        """Subscribers first, then every gateway at once: how long until the whole fleet is up."""
        subacks = self._all("subscribers", {"cmd": "connect", "timeout": 30}, 60)
        self.sampler.sample_now()
        before = self.sampler.last("broker")
        replies = self._all("worker", {"cmd": "connect", "timeout": self.options.connect_timeout_s}, 600)
        times = [(s, c) for r in replies for s, c in r["times"]]
        up = [c - s for s, c in times if c is not None]
        t1 = max((c for _, c in times if c is not None), default=time.monotonic())
        self.sampler.sample_now()
        after = self.sampler.last("broker")
        assert before is not None and after is not None
        per_conn = (after.rss_kib - before.rss_kib) / max(1, len(up))
        broker_cpu_s = after.cpu_s - before.cpu_s
        return {
            "subacks": {k: v for r in subacks for k, v in r.items()},
            "gateways": len(times),
            "connected": len(up),
            "failed": len(times) - len(up),
            "fleet_s": round(t1 - min(s for s, _ in times), 3),
            "per_gateway_p50_ms": round(1000 * percentile(up, 50), 1) if up else None,
            "per_gateway_p99_ms": round(1000 * percentile(up, 99), 1) if up else None,
            "broker_cpu_s": round(broker_cpu_s, 3),
            "broker_cpu_pct": round(100 * broker_cpu_s / max(1e-3, after.t - before.t), 1),
            "broker_cpu_ms_per_connect": round(1000 * broker_cpu_s / max(1, len(up)), 2),
            "broker_rss_before_mib": round(before.rss_kib / 1024, 1),
            "broker_rss_after_mib": round(after.rss_kib / 1024, 1),
            "broker_rss_per_gateway_kib": round(per_conn, 1),
            "broker_fds": after.fds,
            "broker_refused": self.broker.log_lines(*FD_EXHAUSTED),
            "limits": self.limits(replies),
        }

    def limits(self, worker_replies: list[dict[str, Any]]) -> dict[str, Any]:
        """RLIMIT_NOFILE (soft, hard) of the broker, the workers, the subscribers and this process."""
        out: dict[str, Any] = {"broker": nofile(self.broker.pid), "coordinator": nofile(os.getpid())}
        out |= {name: nofile(c.pid) for name, c in self.children.items()}
        out["workers_raised_to"] = worker_replies[0]["limits"] if worker_replies else None
        return out

    def phase(self, name: str, rate: float, seconds: float, offered_msg_s: float) -> PhaseResult:
        """Every gateway raises `rate` events/s for `seconds`; then drain and match what arrived."""
        self.sampler.sample_now()
        broker0 = self.sampler.last("broker")
        t0 = time.monotonic()
        run = {"cmd": "run", "rate": rate, "seconds": seconds, "health": True}
        replies = self._all("worker", run, seconds + 600)
        t_run = time.monotonic()
        self._all("worker", {"cmd": "drain", "timeout": SETTLE_TIMEOUT_S}, SETTLE_TIMEOUT_S + 30)
        stored: dict[Key, float] = {(topic, eid): t for r in replies for topic, eid, t in r["stored"]}
        got = self._settle(stored)
        t1 = time.monotonic()
        self.sampler.sample_now()
        broker1 = self.sampler.last("broker")
        health = sum(int(r["health"]) for r in replies)
        messages = len(stored) + health
        cpu_us = 0.0
        if broker0 is not None and broker1 is not None and messages:
            cpu_us = 1e6 * (broker1.cpu_s - broker0.cpu_s) / messages
        return PhaseResult(
            name=name,
            offered_msg_s=offered_msg_s,
            seconds=seconds,
            stored=len(stored),
            elapsed_s=max(float(r["elapsed_s"]) for r in replies),
            behind_s=max(float(r["behind_s"]) for r in replies),
            health_msgs=health,
            deliveries={sub: Delivery.of(stored, sub, pairs) for sub, pairs in got.items()},
            usage=self.sampler.usage(t0, t1),
            machine_busy_pct=self.sampler.machine_busy_pct(t0, t1),
            broker_cpu_us_per_msg=cpu_us,
            settle_s=t1 - t_run,
        )

    def _settle(self, stored: dict[Key, float]) -> dict[str, list[tuple[Key, float]]]:
        """Collect from the subscribers until each has all it should or SETTLE_TIMEOUT_S passes."""
        got: dict[str, list[tuple[Key, float]]] = {}
        by_actor: dict[str, int] = {}
        for topic, _ in stored:
            actor = topic.split("/", 3)[2]
            by_actor[actor] = by_actor.get(actor, 0) + 1
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            for reply in self._all("subscribers", {"cmd": "collect"}, 120):
                for sub, body in reply.items():
                    pairs = got.setdefault(sub, [])
                    pairs += [((topic, eid), t) for topic, eid, t in body["events"]]
            counts = {sub: len({k for k, _ in pairs if k in stored}) for sub, pairs in got.items()}
            want = {sub: len(stored) if sub == "operator" else by_actor.get(sub, 0) for sub in got}
            if all(counts[s] >= want[s] for s in got) or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def restart(self) -> dict[str, Any]:
        """Broker stopped and started on the same port: how long until every gateway is back."""
        self.broker.stop()
        down = self._all("worker", {"cmd": "await", "connected": False, "timeout": 30}, 60)
        missed = sum(1 for r in down for t in r["times"] if t is None)
        self.broker.start()
        self.sampler.watch("broker", self.broker.pid)
        t_up = time.monotonic()
        self.sampler.sample_now()
        replies = self._all("worker", {"cmd": "await", "connected": True, "timeout": 120}, 600)
        back = [t - t_up for r in replies for t in r["times"] if t is not None]
        self.sampler.sample_now()
        usage = self.sampler.usage(t_up, time.monotonic())
        return {
            "not_seen_down": missed,
            "reconnected": len(back),
            "failed": sum(1 for r in replies for t in r["times"] if t is None),
            "fleet_s": round(max(back), 3) if back else None,
            "p50_s": round(percentile(back, 50), 3) if back else None,
            "broker_cpu_pct": round(usage["broker"].cpu_pct, 1) if "broker" in usage else None,
            "method": "broker SIGTERM, every gateway sees the link drop, broker started on the same port; "
            "time from its start to each gateway's CONNACK (paho back-off 1-30 s included)",
        }


def measure(workdir: Path, options: Options) -> dict[str, Any]:
    """Run one fleet through its phases; the figures as JSON."""
    per_event = publications_per_event(load_policy())
    out: dict[str, Any] = {"gateways": options.gateways, "processes": options.processes}
    out["publications_per_event"] = round(per_event, 3)
    with Fleet(workdir, options) as fleet:
        print(f"fleet {options.gateways}: connecting ...", file=sys.stderr)
        out["connect"] = fleet.connect()
        connect = out["connect"]
        if connect["failed"]:
            out["broke"] = (
                f"{connect['failed']} of {connect['gateways']} gateways could not connect; the broker holds "
                f"{connect['broker_fds']} descriptors (limit {connect['limits']['broker'][0]}) and refused "
                f"{connect['broker_refused']} connections for want of one"
            )
            return out
        if options.steady_s > 0:
            print(f"fleet {options.gateways}: steady {options.steady_s:.0f} s ...", file=sys.stderr)
            steady_msg_s = options.steady_rate * per_event * options.gateways
            steady = fleet.phase("steady", options.steady_rate, options.steady_s, steady_msg_s)
            out["steady"] = steady.to_json()
        ramp = []
        for target in options.ramp:
            print(f"fleet {options.gateways}: ramp {target:.0f} msg/s ...", file=sys.stderr)
            result = fleet.phase(
                f"ramp {target:.0f}", target / per_event / options.gateways, options.step_s, target
            )
            ramp.append(result.to_json())
            if result.failures():
                break
        out["ramp"] = ramp
        held = [r for r in ramp if r["held"]]
        out["held_msg_s"] = max((r["achieved_msg_s"] for r in held), default=0.0)
        broke = next((r for r in ramp if not r["held"]), None)
        out["broke"] = None if broke is None else "; ".join(broke["failures"] + broke["saturated"])
        if options.restart:
            print(f"fleet {options.gateways}: broker restart ...", file=sys.stderr)
            out["restart"] = fleet.restart()
    return out
