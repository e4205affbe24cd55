"""The README's config reference is a config that loads, with every path relative to the file.

Scenario: an operator copies the README's example into /etc/edge-gateway/gateway.yaml; the relative
trust paths (release key, operator keys) and the policy resolve beside it, and no key is dropped:
remote configuration needs `trust.operators` (it used to vanish when `public_key` was relative).
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config import load_config

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Config reference") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_readme_example_loads_with_its_operators_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(readme_example(), encoding="utf-8")
    config = load_config(path)
    assert config.trust.operators == {"beheer": tmp_path / "keys" / "beheer.pub.pem"}
    assert config.trust.public_key == tmp_path / "models" / "release.pub.pem"
    assert config.policy == tmp_path / "policy.yaml"
    assert config.mqtt.tls is not None and config.mqtt.tls.key == tmp_path / "gw.key"


def test_absolute_paths_stay_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    key = tmp_path / "elsewhere" / "release.pub.pem"
    path.write_text(
        "site: s\ngateway: g\nmqtt: {host: 127.0.0.1}\nstorage: /tmp/x\n"
        f"trust: {{public_key: {key}, operators: {{ops: {key}}}}}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.trust.public_key == key and config.trust.operators == {"ops": key}
