"""Broker access control generated from the policy: who may read and write which topics.

The broker authenticates every client by its certificate and uses the certificate's CN as the username
(`gateway.tools.pki` names them). One list of grants is built here and rendered for two brokers:

| identity              | may                                                                    |
|-----------------------|------------------------------------------------------------------------|
| `actor.<name>`        | read `<prefix>/v1/<name>/#`, its own projection, and nothing else;     |
|                       | write `<prefix>/v1/<site>/<gw>/feedback/<name>` of each gateway: its   |
|                       | own marks, on its own topic only                                       |
| `gw.<site>.<gw>`      | write `<prefix>/v1/+/<site>/<gw>/events/#` (every actor's projection   |
|                       | of *its own* events) and `.../replies/feedback` (answers to marks),    |
|                       | `<prefix>/v1/<site>/<gw>/status`, `.../sources/#`, `.../replies/#`,    |
|                       | `.../operator/#`, `.../outbox/#`; read `.../commands/#`, `.../feedback/#` |
| `operator.<name>`     | read `<prefix>/v1/#`; write `<prefix>/v1/+/+/commands/#`               |
| `bridge.<district>`   | at the central broker, what each of its district's gateways may (the   |
|                       | same five rules per gateway), and write `<prefix>/v1/_bridge/<district>/state` |

An actor whose policy entry has `escalation` may write its own break-glass requests,
`<prefix>/v1/<site>/<gw>/escalation/<actor>/request`, and the co-signer that entry names its own
`.../escalation/<co-signer>/cosign`, one rule per gateway (never `+` at the site level: actor and site
names share it). Each gateway reads `<prefix>/v1/<site>/<gw>/escalation/#` and writes the answers and
the derived feeds into each actor's namespace, `<prefix>/v1/+/<site>/<gw>/replies/escalation` and
`.../escalation/feed`. A feed is for its actor only: operators, who read everything else, are denied
`<prefix>/v1/+/+/+/escalation/feed` (Mosquitto checks each delivery; EMQX checks subscriptions, so
there an operator's `#` filter must be kept from matching, see emqx_acl).

Everything else is denied: actors publish nothing but those requests and their own feedback marks, gateways cannot write another site's or gateway's
topics nor read any actor's, nobody but an operator sends commands. Actor names and site names share
the topic level after `v1`, so an actor may not be named like a site (ValueError).

An actor whose policy entry turns Home Assistant discovery on also reads each gateway's
`<prefix>/v1/<site>/<gw>/status` (its entities' availability), and each gateway may write the
retained configs of its own entities in that actor's namespace,
`<prefix>/v1/<actor>/<discovery_prefix>/+/<site>__<gw>/+/config` (two gateways whose node ids
`<site>__<gw>` are equal are refused: ValueError).

A city that outgrows one broker runs a Mosquitto per district whose bridge carries its gateways'
topics to a central broker (docs/fleet.md): the district broker's ACL is this one for its own
gateways; the central broker's names the bridge instead, with exactly its gateways' rules, so a
district broker cannot speak for another district's gateways. `_bridge` cannot be a site or an actor
(not a slug), so the bridge's notification topic clashes with nothing.

Mosquitto (`mosquitto_acl`), per listener::

    listener 8883
    cafile /etc/mosquitto/ca.crt
    certfile /etc/mosquitto/broker.crt
    keyfile /etc/mosquitto/broker.key
    require_certificate true
    use_identity_as_username true
    allow_anonymous false
    acl_file /etc/mosquitto/acl       # the text mosquitto_acl() returns; no match means denied

EMQX 5, for a clustered broker (`emqx_acl`, the file authorizer's `acl.conf`)::

    listeners.ssl.default.ssl_options { cacertfile = ..., certfile = ..., keyfile = ...,
                                        verify = verify_peer, fail_if_no_peer_cert = true }
    mqtt.peer_cert_as_username = cn
    authorization { no_match = deny, sources = [{type = file, path = "etc/acl.conf"}] }

EMQX checks a subscription's topic filter against the rules when the client subscribes (a filter is
allowed only if a rule's filter covers it); Mosquitto additionally checks every delivered message.
The generated `acl.conf` ends with `{deny, all}.` in place of EMQX's shipped `{allow, all}.`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from gateway.tools.pki import (
    check_name,
    identity_actor,
    identity_bridge,
    identity_gateway,
    identity_operator,
)
from gateway.topics import API_VERSION, Topics


class Access(Enum):
    """What a grant allows: receive messages (subscribe) or publish."""

    DENY = "deny"  # first: Mosquitto and EMQX both let a deny rule override the allows after it
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Grant:
    """One allowed (identity, access, topic filter) triple; anything not granted is denied."""

    identity: str
    access: Access
    topic: str


@dataclass(frozen=True)
class AclOptions:
    """What only some sites use: Home Assistant discovery per actor, district bridges, break-glass."""

    discovery: Mapping[str, str] = field(default_factory=dict)  # actor -> its HA discovery prefix
    bridges: Mapping[str, Iterable[tuple[str, str]]] = field(default_factory=dict)  # district -> gateways
    escalation: Mapping[str, str | None] = field(default_factory=dict)  # actor -> its co-signer or None


@dataclass(frozen=True, slots=True)
class Principals:
    """Validated, de-duplicated and sorted names the rules are generated for."""

    prefix: str
    actors: tuple[str, ...]
    gateways: tuple[tuple[str, str], ...]
    operators: tuple[str, ...]
    discovery: tuple[tuple[str, str], ...] = ()  # (actor, Home Assistant discovery prefix)
    bridges: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # (district, its gateways)
    escalation: tuple[tuple[str, str], ...] = ()  # (actor, "" or the co-signer its policy names)

    @classmethod
    def of(
        cls,
        prefix: str,
        actors: Iterable[str],
        gateways: Iterable[tuple[str, str]],
        operators: Iterable[str],
        options: AclOptions,
    ) -> Principals:
        """Validate every name (ValueError); reject an actor named like a site, a gateway reached twice,
        and equal Home Assistant node ids."""
        check_name("prefix", prefix)
        actor_set = {check_name("actor", a) for a in actors}
        gateway_set = _gateways(gateways)
        behind = {check_name("district", d): _gateways(gws) for d, gws in options.bridges.items()}
        reached = [gateway_set, *behind.values()]
        twice = {gw for i, one in enumerate(reached) for other in reached[i + 1 :] for gw in one & other}
        if twice:
            raise ValueError(f"a gateway is reached directly and by a bridge, or by two: {sorted(twice)}")
        clash = actor_set & {site for group in reached for site, _ in group}
        if clash:
            raise ValueError(
                f"actor and site names share the topic level after {prefix}/{API_VERSION}/: "
                f"{', '.join(sorted(clash))} is both"
            )
        operator_set = {check_name("operator", o) for o in operators}
        discovery = options.discovery
        node_ids = [Topics(prefix, site, gw).node_id for group in reached for site, gw in group]
        if discovery and len(set(node_ids)) < len(node_ids):
            raise ValueError(f"two gateways share a Home Assistant node id: {sorted(node_ids)}")
        unknown = set(discovery) - actor_set
        if unknown:
            raise ValueError(f"discovery for actors without a policy entry: {', '.join(sorted(unknown))}")
        return cls(
            prefix,
            tuple(sorted(actor_set)),
            tuple(sorted(gateway_set)),
            tuple(sorted(operator_set)),
            tuple(sorted((a, check_name("discovery prefix", d)) for a, d in discovery.items())),
            tuple((d, tuple(sorted(behind[d]))) for d in sorted(behind)),
        )


def _gateways(gateways: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(check_name("site", s), check_name("gateway", g)) for s, g in gateways}


def _gateway_rules(who: Principals, identity: str, site: str, gw: str) -> list[Grant]:
    """What one gateway's traffic may do, granted to `identity` (the gateway, or its district's bridge)."""
    root = f"{who.prefix}/{API_VERSION}"
    base = f"{root}/{site}/{gw}"
    node = Topics(who.prefix, site, gw).node_id
    # `+` is any actor: the gateway publishes every actor's projection, but only of its own events.
    return [
        Grant(identity, Access.WRITE, f"{root}/+/{site}/{gw}/events/#"),
        Grant(identity, Access.WRITE, f"{root}/+/{site}/{gw}/replies/feedback"),
        Grant(identity, Access.WRITE, f"{base}/status"),
        Grant(identity, Access.WRITE, f"{base}/sources/#"),
        Grant(identity, Access.WRITE, f"{base}/replies/#"),
        Grant(identity, Access.WRITE, f"{base}/operator/#"),
        Grant(identity, Access.WRITE, f"{base}/outbox/#"),
        Grant(identity, Access.READ, f"{base}/commands/#"),
        Grant(identity, Access.READ, f"{base}/feedback/#"),
    ] + [Grant(identity, Access.WRITE, f"{root}/{a}/{d}/+/{node}/+/config") for a, d in who.discovery]


def grants(
    prefix: str,
    actors: Iterable[str],
    gateways: Iterable[tuple[str, str]],
    operators: Iterable[str] = (),
    options: AclOptions | None = None,
) -> list[Grant]:
    """Every grant for these actors, gateways (site, gateway), operators and district bridges (district ->
    the gateways behind it), in a stable order.

    `options`: Home Assistant discovery and district bridges, when a site uses them."""
    options = options or AclOptions()
    who = Principals.of(prefix, actors, gateways, operators, options)
    who = replace(who, escalation=_escalating(who, options.escalation))
    root = f"{who.prefix}/{API_VERSION}"
    every_gateway = [*who.gateways, *(gw for _, behind in who.bridges for gw in behind)]
    out = []
    for actor in who.actors:
        out.append(Grant(identity_actor(actor), Access.READ, f"{root}/{actor}/#"))
        # One rule per gateway, never `+/+`: a wildcard site level would let an actor write into
        # another actor's namespace (actor and site names share that level).
        out += [
            Grant(identity_actor(actor), Access.WRITE, f"{root}/{site}/{gw}/feedback/{actor}")
            for site, gw in every_gateway
        ]
    out += [
        Grant(identity_actor(a), Access.READ, f"{root}/{site}/{gw}/status")
        for a, _ in who.discovery
        for site, gw in every_gateway
    ]
    for site, gw in who.gateways:
        out += _gateway_rules(who, identity_gateway(site, gw), site, gw)
    for district, behind in who.bridges:
        me = identity_bridge(district)
        out.append(Grant(me, Access.WRITE, f"{root}/_bridge/{district}/state"))
        for site, gw in behind:
            out += _gateway_rules(who, me, site, gw)
    out += _escalation_grants(who, root)
    for name in who.operators:
        me = identity_operator(name)
        if who.escalation:
            out.append(Grant(me, Access.DENY, f"{root}/+/+/+/escalation/feed"))
        out += [Grant(me, Access.READ, f"{root}/#"), Grant(me, Access.WRITE, f"{root}/+/+/commands/#")]
    return out


def _escalating(who: Principals, escalation: Mapping[str, str | None]) -> tuple[tuple[str, str], ...]:
    """(actor, co-signer or "") for the actors that may escalate; ValueError for names not in the policy."""
    named = set(escalation) | {c for c in escalation.values() if c}
    unknown = named - set(who.actors)
    if unknown:
        raise ValueError(f"escalation for actors without a policy entry: {', '.join(sorted(unknown))}")
    return tuple(sorted((a, c or "") for a, c in escalation.items()))


def _escalation_grants(who: Principals, root: str) -> list[Grant]:
    """Requests and co-signatures in, answers and feeds out; one rule per gateway (see the docstring)."""
    if not who.escalation:
        return []
    out = []
    carriers = [(gw, identity_gateway(*gw)) for gw in who.gateways]
    carriers += [(gw, identity_bridge(d)) for d, behind in who.bridges for gw in behind]
    for (site, gw), me in carriers:
        base = f"{root}/{site}/{gw}"
        for actor, co_signer in who.escalation:
            out.append(Grant(identity_actor(actor), Access.WRITE, f"{base}/escalation/{actor}/request"))
            if co_signer:
                out.append(
                    Grant(identity_actor(co_signer), Access.WRITE, f"{base}/escalation/{co_signer}/cosign")
                )
        out += [
            Grant(me, Access.READ, f"{base}/escalation/#"),
            Grant(me, Access.WRITE, f"{root}/+/{site}/{gw}/escalation/feed"),
            Grant(me, Access.WRITE, f"{root}/+/{site}/{gw}/replies/escalation"),
        ]
    return list(dict.fromkeys(out))  # a co-signer of two actors is granted its topic once


def _by_identity(rules: list[Grant]) -> dict[str, list[Grant]]:
    grouped: dict[str, list[Grant]] = {}
    for rule in rules:
        grouped.setdefault(rule.identity, []).append(rule)
    return grouped


def mosquitto_acl(
    prefix: str,
    actors: Iterable[str],
    gateways: Iterable[tuple[str, str]],
    operators: Iterable[str] = (),
    options: AclOptions | None = None,
) -> str:
    """A Mosquitto `acl_file` (usernames are certificate CNs; whatever is not granted is denied)."""
    lines = [
        "# Generated by gateway.tools.acl from the policy: do not edit, regenerate.",
        "# Usernames are client-certificate CNs (use_identity_as_username true); anything not granted",
        "# below is denied. No rule precedes the first `user` line, so anonymous clients get nothing.",
    ]
    for identity, rules in _by_identity(grants(prefix, actors, gateways, operators, options)).items():
        lines += ["", f"user {identity}"]
        lines += [f"topic {rule.access.value} {rule.topic}" for rule in rules]
    return "\n".join(lines) + "\n"


def emqx_acl(
    prefix: str,
    actors: Iterable[str],
    gateways: Iterable[tuple[str, str]],
    operators: Iterable[str] = (),
    options: AclOptions | None = None,
) -> str:
    """The same rules as an EMQX 5 file-authorizer `acl.conf` (Erlang terms), ending in `{deny, all}.`."""
    action = {Access.DENY: "all", Access.READ: "subscribe", Access.WRITE: "publish"}
    lines = [
        "%% Generated by gateway.tools.acl from the policy: do not edit, regenerate.",
        "%% Usernames are client-certificate CNs (mqtt.peer_cert_as_username = cn).",
    ]
    for identity, rules in _by_identity(grants(prefix, actors, gateways, operators, options)).items():
        for access in Access:
            topics = ", ".join(f'"{r.topic}"' for r in rules if r.access is access)
            if topics:
                verdict = "deny" if access is Access.DENY else "allow"
                lines.append(f'{{{verdict}, {{username, "{identity}"}}, {action[access]}, [{topics}]}}.')
    lines.append("{deny, all}.")
    return "\n".join(lines) + "\n"
