"""One person's fall state machine over their keypoint history (gateway/vision/pose_features.py).

``FallState.step`` turns the fall model's probability and the person's ``PoseHistory`` into the
transitions behind the public fall events: "detected", "confirmed", "recovered" (or None).

- detected: the model said "a fall just ended" on ``detect_windows`` consecutive frames, the history
  saw the body come down at least ``FALL_DESCENT_SPEED`` fast within the last 3 s, and the person is
  down now (``PoseHistory.is_down``: a low or lying pose, or the pose lost after that descent while
  their blob stays low). The descent rule is physics, not a furniture rule: lying down on purpose is
  slow, a fall is not, and it keeps one wrong model window on a person lying in bed from alarming.
- confirmed: still down ``confirm_s`` after detection.
- recovered: upright (``PoseHistory.is_upright``) for ``recover_s``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from gateway.vision.pose_features import PoseHistory

if TYPE_CHECKING:  # fall.py imports this module; its settings type is needed for annotations only
    from gateway.vision.fall import FallSettings

# A fall brings the hips down at >= ~1 standing height/s at some point (free fall from standing
# height ~ 2-4 m/s); lying down on purpose stays near 0.1-0.2. Chosen on validation data (simulator
# validation seeds + GMDCSA24 + MD4FD le2i_home_01): 0.6 cost 11 of 60 simulated falls (slumps and
# collapses take 2-3 s) and 2 of 20 real ones; 0.3 found them and alarmed no more real everyday
# activity (models/fall/MODEL_CARD.md).
FALL_DESCENT_SPEED: Final = 0.3
DESCENT_WITHIN_S: Final = 3.0  # the descent must lie within the model's 3 s window


class FallState:
    """One person's fall state machine, shared by the camera path and the evaluations.

    ``step`` takes the person's history (latest pose last) and the model probability and returns
    the transition it completes: "detected", "confirmed", "recovered" or None.
    """

    def __init__(self, settings: FallSettings) -> None:
        self.settings = settings
        self.down_since: float | None = None  # detection time, while a fall is in progress
        self.fall_time = 0.0  # when the body came down (fastest descent), seconds
        self.confidence = 0.0
        self.confirmed = False
        self.down_s = 0.0  # at recovery: seconds from detection until upright again
        self._up_since: float | None = None
        self._streak = 0
        self._best = 0.0

    @property
    def active(self) -> bool:
        """A fall has been detected and the person has not got up since."""
        return self.down_since is not None

    def step(self, now: float, history: PoseHistory, probability: float | None) -> str | None:
        """Advance to ``now`` with the person's history and the model's probability (None: not
        scored this frame); the transition it completes."""
        if self.down_since is not None:
            return self._while_down(now, history)
        if probability is None or probability < self.settings.threshold:
            self._streak, self._best = 0, 0.0
            return None
        self._streak += 1
        self._best = max(self._best, probability)
        if self._streak < self.settings.detect_windows or not history.is_down():
            return None
        if history.descent_speed(now, DESCENT_WITHIN_S) < FALL_DESCENT_SPEED:
            return None
        self.down_since, self.fall_time = now, history.fall_time(now)
        self.confidence, self.confirmed, self._up_since = round(self._best, 3), False, None
        self._streak, self._best = 0, 0.0
        return "detected"

    def tick(self, now: float) -> str | None:
        """Advance time without seeing the person (hidden, or no longer tracked)."""
        return self._maybe_confirm(now) if self.down_since is not None else None

    def _while_down(self, now: float, history: PoseHistory) -> str | None:
        assert self.down_since is not None
        if not history.is_upright():
            self._up_since = None
            return self._maybe_confirm(now)
        self._up_since = now if self._up_since is None else self._up_since
        if now - self._up_since < self.settings.recover_s:
            return self._maybe_confirm(now)
        self.down_s = round(self._up_since - self.down_since, 1)
        self.down_since = None
        return "recovered"

    def _maybe_confirm(self, now: float) -> str | None:
        assert self.down_since is not None
        if self.confirmed or now - self.down_since < self.settings.confirm_s:
            return None
        self.confirmed = True
        return "confirmed"
