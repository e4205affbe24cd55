"""Every MQTT topic the gateway uses is built here, and only here."""

from __future__ import annotations

from dataclasses import dataclass

API_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one gateway: `<prefix>/v1/<site>/<gateway>/...`."""

    prefix: str
    site: str
    gateway: str

    @property
    def base(self) -> str:
        """The gateway's own namespace."""
        return f"{self.prefix}/{API_VERSION}/{self.site}/{self.gateway}"

    def event(self, event_type: str) -> str:
        """Where events of one type are published (QoS 1)."""
        return f"{self.base}/events/{event_type}"

    @property
    def status(self) -> str:
        """Retained `online`/`offline`, with a last will."""
        return f"{self.base}/status"

    def source_status(self, source: str) -> str:
        """Retained health of one source."""
        return f"{self.base}/sources/{source}/status"
