"""The config file's `update:` section: where versions are installed, how the service restarts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from gateway.yamlfile import Strict

DEFAULT_ROOT = Path("/opt/edge-gateway")


class UpdateConfig(Strict):
    """How `edge-gateway update` installs a signed release beside the running one (deploy/README.md)."""

    root: Path = Field(
        DEFAULT_ROOT, description="Holds versions/<version>/ (one venv each) and the `current` symlink"
    )
    restart: list[str] = Field(
        ["systemctl", "restart", "edge-gateway.service"],
        min_length=1,
        description="Command that restarts the service on whatever `current` points to",
    )
    healthy_within_s: float = Field(
        120.0, gt=0, le=3600, description="A new version not READY this long after its restart is rolled back"
    )
    settle_s: float = Field(
        10.0, ge=0, le=600, description="...and it must still be running this long after READY"
    )
    public_key: Path | None = Field(
        None, description="Ed25519 key that signs gateway releases; default: trust.public_key"
    )
    keep: int = Field(3, ge=2, le=20, description="Installed versions kept (the running one and older)")

    @field_validator("root", "public_key")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        # Run by root from any directory: a relative path would depend on where the shell stood.
        if path is not None and not path.is_absolute():
            raise ValueError("must be an absolute path")
        return path
