"""Broker rules for escalations: requests written only by their actor, co-signatures only by the named
co-signer, one rule per gateway; feeds and answers written only by the gateway into the actor's
namespace; operators denied feeds. Without escalations in the policy, the ACL is what it was."""

from __future__ import annotations

import pytest

from gateway.tools.acl import AclOptions, emqx_acl, mosquitto_acl

GATEWAYS = [("site-a", "gw-1"), ("site-b", "gw-1")]
ACTORS = ["ambulance", "gemeente", "politie"]


def test_mosquitto_rules_for_escalations() -> None:
    acl = mosquitto_acl("city", ACTORS, GATEWAYS, ["ops"], AclOptions(escalation={"ambulance": "gemeente"}))
    blocks = {b.split("\n", 1)[0]: b for b in acl.split("\n\n")[1:]}
    ambulance = blocks["user actor.ambulance"]
    assert "topic write city/v1/site-a/gw-1/escalation/ambulance/request" in ambulance
    assert "topic write city/v1/site-b/gw-1/escalation/ambulance/request" in ambulance
    assert "cosign" not in ambulance and "+" not in ambulance
    assert "topic write city/v1/site-a/gw-1/escalation/gemeente/cosign" in blocks["user actor.gemeente"]
    assert "escalation" not in blocks["user actor.politie"]
    gateway = blocks["user gw.site-a.gw-1"]
    assert "topic read city/v1/site-a/gw-1/escalation/#" in gateway
    assert "topic write city/v1/+/site-a/gw-1/escalation/feed" in gateway
    assert "topic write city/v1/+/site-a/gw-1/replies/escalation" in gateway
    assert "topic deny city/v1/+/+/+/escalation/feed" in blocks["user operator.ops"]


def test_emqx_denies_before_it_allows_and_nothing_changes_without_escalations() -> None:
    acl = emqx_acl("city", ACTORS, GATEWAYS, ["ops"], AclOptions(escalation={"ambulance": None}))
    ops = [line for line in acl.splitlines() if '"operator.ops"' in line]
    assert ops[0] == '{deny, {username, "operator.ops"}, all, ["city/v1/+/+/+/escalation/feed"]}.'
    assert "cosign" not in acl
    assert "escalation" not in mosquitto_acl("city", ACTORS, GATEWAYS, ["ops"])


def test_escalation_for_an_actor_without_a_policy_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="rijkswaterstaat"):
        mosquitto_acl("city", ACTORS, GATEWAYS, (), AclOptions(escalation={"ambulance": "rijkswaterstaat"}))
