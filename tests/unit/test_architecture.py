"""The data path is a rule the tools hold: stages import forward only, and one door builds Publications."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"

# Stage order: a module may import from its own stage or earlier ones, never later ones. The
# detectors, grouped by domain, are one stage; they and the pipelines that run them make events.
STAGES = [
    {"sources"},
    {"inference"},
    {"air", "flood", "vision", "events"},
    {"privacy"},
    {"outbox", "outbox_sql", "outbox_drops"},
    {"publish"},
    {"sensors", "health", "commands", "app", "service", "commissioning", "metrics", "escalation"}
    | {"signed_inbox", "feedback", "rollout", "operations"},
]
# The one exception to "no image encoder in gateway/": the commissioning page's previews, JPEG for a
# browser on the page's local address. That package is a viewer: it may publish nothing.
PREVIEW_ENCODER = "gateway.commissioning.preview"
COMMISSIONING = "gateway.commissioning"
NO_WAY_OUT = (
    "gateway.publish",
    "gateway.outbox",
    "gateway.privacy",
    "gateway.commands",
    "gateway.audit",
    "paho",
)


def stage_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "gateway" or len(parts) < 2:
        return None
    return next((i for i, stage in enumerate(STAGES) if parts[1] in stage), None)


def modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(GATEWAY.rglob("*.py")):
        rel = path.relative_to(GATEWAY.parent).with_suffix("")
        out.append((".".join(rel.parts), ast.parse(path.read_text())))
    return out


def imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_stages_never_import_a_later_stage() -> None:
    wrong = []
    for name, tree in modules():
        mine = stage_of(name)
        if mine is None:
            continue
        for target in imported(tree):
            theirs = stage_of(target)
            if theirs is not None and theirs > mine:
                wrong.append(f"{name} imports {target}")
    assert not wrong


def test_only_the_privacy_door_constructs_publications() -> None:
    builders = set()
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Publication":
                builders.add(name)
    # The outbox only restores, from disk, publications the door built.
    assert builders == {"gateway.privacy.door", "gateway.outbox"}


def test_no_image_encoding_in_the_gateway_but_the_commissioning_preview() -> None:
    encoders = {
        name
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"imencode", "imwrite"}
    }
    assert encoders == {PREVIEW_ENCODER}
    writes_files = [
        name
        for name, tree in modules()
        if name == PREVIEW_ENCODER
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"imwrite", "write_bytes", "open", "VideoWriter"}
    ]
    assert not writes_files


def test_the_commissioning_page_publishes_nothing_and_only_it_encodes_previews() -> None:
    """Its modules import nothing that reaches MQTT, the outbox, the privacy door or the audit log, and
    nothing outside the page (and the CLI's set-password) imports it, so no preview can travel further."""
    reaching_out, importers = [], set()
    for name, tree in modules():
        for target in imported(tree):
            if name.startswith(COMMISSIONING) and target.startswith(NO_WAY_OUT):
                reaching_out.append(f"{name} imports {target}")
            if target == PREVIEW_ENCODER or (
                target.startswith(COMMISSIONING) and not name.startswith(COMMISSIONING)
            ):
                importers.add((name, target))
    assert not reaching_out
    assert importers == {
        ("gateway.commissioning.server", PREVIEW_ENCODER),
        ("gateway.app", "gateway.commissioning.server"),
        ("gateway.config", "gateway.commissioning.settings"),
        ("gateway.tools.commissioning", "gateway.commissioning.password"),
    }


# The shadow rollout runs a second fall detector per camera. Its events go to the comparator only:
# nothing in the rollout package can reach the door, the outbox, MQTT or an emit callback.
ROLLOUT = "gateway.rollout"
SHADOW_NO_WAY_OUT = ("gateway.privacy.door", "gateway.outbox", "gateway.publish", "gateway.app", "paho")


def test_shadow_events_cannot_reach_the_door() -> None:
    reaching_out, emitting = [], []
    for name, tree in modules():
        if not name.startswith(ROLLOUT):
            continue
        reaching_out += [f"{name} imports {t}" for t in imported(tree) if t.startswith(SHADOW_NO_WAY_OUT)]
        for node in ast.walk(tree):
            called = node.func if isinstance(node, ast.Call) else None
            callee = getattr(called, "id", None) or getattr(called, "attr", None)
            if callee in {"emit", "_emit", "_send", "Door", "event"}:
                emitting.append(f"{name} calls {callee}")
    assert not reaching_out
    assert not emitting


def test_the_composition_root_is_small_and_no_module_is_large() -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in GATEWAY.rglob("*.py")}
    assert sizes["app.py"] < 150
    assert not {name: n for name, n in sizes.items() if n > 400}
