"""The fleet's broker and identities: one Mosquitto, mutual TLS, the ACL the project generates.

Every gateway, actor and operator gets its own key and certificate from a local CA
(`gateway.tools.pki`, the code behind `edge-gateway provision`); the ACL is
`gateway.tools.acl.mosquitto_acl` over all of them, as `edge-gateway broker-acl` prints it. The
listener is the one `gateway/tools/acl.py` documents (require_certificate, use_identity_as_username,
no anonymous clients). Unlike the test broker (tests/secure_broker.py) it does not log every packet:
at thousands of messages a second that log would be the broker's main work.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.privacy.policy import Policy
from gateway.tools.acl import mosquitto_acl
from gateway.tools.pki import identity_actor, identity_gateway, identity_operator
from tests.fleet.gateways import PREFIX, Identity
from tests.secure_broker import Ca, Credentials, SecureMosquitto, issue

OPERATOR = "fleet"
ZONES = 12  # districts the simulated gateways are spread over (their `location.zone`)
# Mosquitto's own default (per client): a subscriber that falls this far behind starts losing QoS 1
# messages. Kept, so that a fleet run shows when an integrator's client cannot keep up.
MAX_QUEUED = 1000
# What Mosquitto logs when it runs out of descriptors: upstream's accept() warning (net_mosq.c), and
# Debian's build (WITH_WRAP), whose libwrap check fails first and blames tcpd, misleadingly.
FD_EXHAUSTED = ("socket count has been exceeded", "Too many open files", "denied access by tcpd")


def gateway_name(index: int) -> tuple[str, str]:
    """(site, gateway) of the index-th simulated gateway: two gateways a site."""
    return f"site-{index // 2:04d}", f"gw-{index % 2 + 1}"


@dataclass(frozen=True)
class FleetPki:
    """The CA and every client's credentials."""

    ca: Ca
    gateways: list[Identity]
    clients: dict[str, tuple[str, Credentials]]  # subscriber name -> (topic filter, credentials)

    @classmethod
    def create(cls, directory: Path, n: int, policy: Policy) -> FleetPki:
        """A CA, n gateways, one client per actor of the policy and one operator."""
        ca = Ca.create(directory)
        gateways = []
        for i in range(n):
            site, gw = gateway_name(i)
            creds = issue(ca, directory, identity_gateway(site, gw))
            assert creds.cert is not None and creds.key is not None
            gateways.append(Identity(site, gw, f"district-{i % ZONES:02d}", creds.cert, creds.key))
        clients = {
            actor: (f"{PREFIX}/v1/{actor}/#", issue(ca, directory, identity_actor(actor)))
            for actor in policy.actors
        }
        clients["operator"] = (f"{PREFIX}/v1/#", issue(ca, directory, identity_operator(OPERATOR)))
        return cls(ca, gateways, clients)

    def acl(self, policy: Policy) -> str:
        """The broker's acl_file, generated exactly as `edge-gateway broker-acl` does."""
        return mosquitto_acl(PREFIX, policy.actors, [(g.site, g.gateway) for g in self.gateways], [OPERATOR])


class FleetBroker(SecureMosquitto):
    """The test broker (mutual TLS, the generated acl_file) logging notices and worse, not packets."""

    def __init__(self, workdir: Path, ca: Ca, acl: str, nofile: int | None = None) -> None:
        super().__init__(workdir, ca, acl, log_types=("error", "warning", "notice"))
        self.nofile = nofile
        self.conf.write_text(f"max_queued_messages {MAX_QUEUED}\n" + self.conf.read_text())

    @property
    def pid(self) -> int:
        """The running broker's process id."""
        assert self._proc is not None, "the broker is not running"
        return self._proc.pid

    def start(self, timeout: float = 10.0) -> FleetBroker:
        """Start it, with a lowered descriptor limit if `nofile` was given (to see that limit hit)."""
        with _soft_nofile(self.nofile):
            super().start(timeout)
        return self

    def log_lines(self, *needles: str) -> int:
        """How many lines of its log contain any of `needles`."""
        path = self.workdir / "mosquitto.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return sum(1 for line in text.splitlines() if any(n in line for n in needles))


@contextlib.contextmanager
def _soft_nofile(limit: int | None) -> Iterator[None]:
    """This process's soft RLIMIT_NOFILE lowered while a child is started (it inherits it)."""
    if limit is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
