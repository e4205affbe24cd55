"""The serial sensor protocols the gateway knows, keyed by the `type` used in the config."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.sources.protocols import maxbotix, mhz19, node, pms5003, sds011
from gateway.sources.protocols.base import SensorProtocol

PROTOCOLS: Mapping[str, SensorProtocol] = MappingProxyType(
    {
        p.type: p
        for p in (
            sds011.PROTOCOL,
            pms5003.PROTOCOL,
            pms5003.PROTOCOL_T,
            mhz19.PROTOCOL,
            maxbotix.PROTOCOL,
            node.PROTOCOL,
        )
    }
)


def get_protocol(type: str) -> SensorProtocol:
    """The protocol for a sensor type, or KeyError naming the known types."""
    try:
        return PROTOCOLS[type]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise KeyError(f"unknown sensor type {type!r}; known types: {known}") from None
