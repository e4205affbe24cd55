"""Config of the shadow rollout (config key `rollout`); the rules themselves ship in each bundle."""

from __future__ import annotations

from pydantic import Field

from gateway.yamlfile import Strict


class RolloutConfig(Strict):
    """How often the shadow is compared with the active detectors, and what counts as one event."""

    report_interval_s: float = Field(
        3600.0, gt=0, description="How often operators get the shadow comparison (default hourly)"
    )
    match_window_s: float = Field(
        10.0, gt=0, le=600, description="An active and a shadow event this close in time are the same event"
    )
