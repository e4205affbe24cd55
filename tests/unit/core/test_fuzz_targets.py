"""The fuzz targets on a short, fixed budget (hypothesis, derandomized), and every crash ever found.

`make fuzz` runs the same targets coverage-guided with atheris for a minute each; what it finds goes
into tests/fuzz/crashes/<target>/ and is replayed here for good. A crash in a file this team does
not own is listed in KNOWN with its reason, as a strict xfail, until its owner fixes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.seeds import seeds
from tests.fuzz.targets import TARGETS

CRASHES = Path(__file__).resolve().parents[2] / "fuzz" / "crashes"
EXAMPLES = 500  # per target: a few seconds each
KNOWN: dict[str, str] = {  # "<target>/<file>" -> why it still fails (an xfail, strict)
}


@st.composite
def mutated(draw: st.DrawFn, target: str) -> bytes:
    """A valid input with a few bytes changed, cut or inserted, or plain random bytes."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=600))
    data = bytearray(draw(st.sampled_from(seeds(target))))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_holds_its_contract(target: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(mutated(target))
    def check(data: bytes) -> None:
        TARGETS[target](data)

    check()


def crash_files() -> list[pytest.param]:  # type: ignore[valid-type]
    params = []
    for path in sorted(CRASHES.glob("*/*")):
        name = f"{path.parent.name}/{path.name}"
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[name])] if name in KNOWN else []
        params.append(pytest.param(path, id=name, marks=marks))
    return params


@pytest.mark.parametrize("path", crash_files())
def test_crash_found_by_fuzzing_stays_fixed(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())


def test_every_target_has_valid_seeds() -> None:
    for target, run in TARGETS.items():
        assert seeds(target), target
        for data in seeds(target):
            run(data)
