"""Model cards and evaluation reports: code rewrites only its own generated section, prose stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.generated import END, begin, replace_section


def test_only_the_writers_section_is_replaced(tmp_path: Path) -> None:
    mine, other = begin("models/x/train.py"), begin("models/x/evaluate.py")
    card = tmp_path / "CARD.md"
    card.write_text(
        f"# Card\nprose\n{other}\nkeep\n{END}\nmiddle\n{mine}\nold\n{END}\ntail\n", encoding="utf-8"
    )
    replace_section(card, mine, f"{mine}\nnew\n{END}")
    assert card.read_text() == f"# Card\nprose\n{other}\nkeep\n{END}\nmiddle\n{mine}\nnew\n{END}\ntail\n"


def test_a_card_without_the_markers_is_refused(tmp_path: Path) -> None:
    card = tmp_path / "CARD.md"
    card.write_text("# Card\nno markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        replace_section(card, begin("models/x/train.py"), "section")
    assert card.read_text() == "# Card\nno markers\n"
