"""The `commissioning:` section of the gateway config (the page is off unless enabled)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from gateway.commissioning import password
from gateway.yamlfile import Strict

DEFAULT_LISTEN = "127.0.0.1:8099"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def split_listen(listen: str) -> tuple[Address, int]:
    """`ADDRESS:PORT` (IPv6 in brackets) as an address and a port, or ValueError."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("listen is ADDRESS:PORT, e.g. 127.0.0.1:8099, 192.168.1.20:8099 or [::1]:8099")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"listen needs an IP address of this device, not {host!r}") from None
    if address.is_unspecified:
        raise ValueError(
            f"listen on {host} would serve every interface, the uplink included: give the LAN address "
            "of the one interface technicians reach"
        )
    return address, int(port_text)


class CommissioningConfig(Strict):
    """The local commissioning page: cameras with masks burned in, live detections, sensor values."""

    enabled: bool = Field(False, description="Serve the commissioning page")
    listen: str = Field(
        DEFAULT_LISTEN, description="ADDRESS:PORT on this device: loopback (default) or a LAN address"
    )
    password_hash: str | None = Field(
        None, description="scrypt hash from `edge-gateway commissioning set-password` (no default password)"
    )

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        if value is not None:
            password.parse(value)
        return value

    @model_validator(mode="after")
    def _login_off_loopback(self) -> CommissioningConfig:
        if self.enabled and self.password_hash is None and not self.address.is_loopback:
            raise ValueError(
                f"the commissioning page on {self.listen} needs a password: run "
                "`edge-gateway commissioning set-password --config FILE`, or listen on 127.0.0.1"
            )
        return self

    @property
    def address(self) -> Address:
        """The address to bind."""
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The port to bind."""
        return split_listen(self.listen)[1]
