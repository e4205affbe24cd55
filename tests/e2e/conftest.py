"""Every test under tests/e2e/ is marked `e2e` here, so a new file cannot forget it; and every message
any of its subscribers receives is checked against the published contract (docs/asyncapi.yaml).

The fast loop deselects it: `pytest -m "not e2e and not integration"` (see pyproject.toml).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.contract import ContractError, check_message
from tests.mqtt_helpers import OBSERVERS, Received

HERE = Path(__file__).resolve().parent
CHECKED: Counter[str] = Counter()  # kind or event type -> distinct messages checked, over the session


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the items collected from this folder (the hook sees the whole session's items)."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _contract() -> Iterator[None]:
    """After each test, every distinct message its subscribers received must keep the contract."""
    received: list[Received] = []
    observe: Callable[[Received], None] = received.append
    OBSERVERS.append(observe)
    try:
        yield
    finally:
        OBSERVERS.remove(observe)
    broken = []
    for topic, payload in dict.fromkeys((m.topic, m.payload) for m in received):
        try:
            checked = check_message(topic, payload)
        except ContractError as exc:
            broken.append(str(exc)[:600])
            continue
        if checked.kind != "command":  # operators' input, sent hostile on purpose by some tests
            CHECKED[checked.event_type or checked.kind] += 1
    if broken:
        pytest.fail(f"{len(broken)} message(s) break docs/asyncapi.yaml:\n" + "\n".join(broken[:20]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many received messages were checked against the contract, by type."""
    if CHECKED:
        total = sum(CHECKED.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(CHECKED.items()))
        terminalreporter.write_line(
            f"contract: {total} messages validated against docs/asyncapi.yaml ({kinds})"
        )
