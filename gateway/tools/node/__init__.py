"""Talking to sensor nodes from the gateway: `edge-gateway node ...` (and the doctor's node probe)."""

from gateway.tools.node.command import app
from gateway.tools.node.session import Answer, NodeSession, NodeUnreachable, open_port

__all__ = ["Answer", "NodeSession", "NodeUnreachable", "app", "open_port"]
