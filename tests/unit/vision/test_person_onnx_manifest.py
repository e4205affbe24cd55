"""An integrator's ONNX person model drops in through a JSON manifest, without code changes.

Scenario: a tiny YOLOv8-shaped ONNX graph is built here with onnx.helper. Its output is [1, 5, 4]
(channels first: cx, cy, w, h, person score for 4 candidates); the scores are multiplied by the mean
of the first input channel, so the colour order and normalisation the manifest asks for decide what
is found. It is signed into a models manifest like a release and loaded with
``load_onnx_locator``, run on a letterboxed wide frame through onnxruntime, and the boxes come back
in frame pixels after the score threshold and NMS. The other decoders (YOLOv5 objectness, already
NMS'd xyxy rows, YOLOv8-pose keypoints) are checked on hand-made output tensors, and bad manifests
fail with the field named.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gateway.inference.runner import ModelIntegrityError, OnnxModel
from gateway.security.signing import (
    ManifestError,
    ManifestSpec,
    generate_signing_key,
    sign_manifest,
    verify_manifest,
)
from gateway.vision.person import BackgroundLocator
from gateway.vision.person_model import (
    OnnxPersonLocator,
    OutputSpec,
    PersonManifestError,
    PersonModelManifest,
    decode,
    load_onnx_locator,
    nms,
    preprocess,
)

SIZE = 64
# Candidates in input pixels (cx, cy, w, h) and their scores before the colour factor.
CANDIDATES = np.array(
    [
        [32.0, 32.0, 10.0, 20.0, 0.9],  # kept
        [33.0, 32.0, 10.0, 20.0, 0.8],  # overlaps the first: removed by NMS
        [10.0, 30.0, 6.0, 12.0, 0.6],  # kept
        [50.0, 40.0, 8.0, 8.0, 0.1],  # below the threshold
    ],
    dtype=np.float32,
)


def tiny_yolo() -> onnx.ModelProto:
    """images [1, 3, 64, 64] -> output0 [1, 5, 4]; scores scaled by the mean of channel 0."""
    boxes = CANDIDATES[:, :4].T.reshape(1, 4, 4)
    scores = CANDIDATES[:, 4].reshape(1, 1, 4)
    nodes = [
        helper.make_node("Slice", ["images", "c0", "c1", "ax1"], ["first"]),
        helper.make_node("ReduceMean", ["first"], ["mean"], keepdims=0),  # scalar
        helper.make_node("Mul", ["scores", "mean"], ["scaled"]),
        helper.make_node("Concat", ["boxes", "scaled"], ["output0"], axis=1),
    ]
    consts = [
        numpy_helper.from_array(boxes, "boxes"),
        numpy_helper.from_array(scores, "scores"),
        numpy_helper.from_array(np.array([0], np.int64), "c0"),
        numpy_helper.from_array(np.array([1], np.int64), "c1"),
        numpy_helper.from_array(np.array([1], np.int64), "ax1"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, 4])],
        initializer=consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


MANIFEST: dict[str, Any] = {
    "format": 1,
    "name": "tiny-yolo",
    "file": "person/tiny.onnx",
    "input": {"name": "images", "shape": [1, 3, SIZE, SIZE], "layout": "NCHW", "color": "RGB"},
    "output": {"name": "output0", "decode": "yolo-boxes", "transpose": True, "classes": 1},
    "thresholds": {"score": 0.3, "nms_iou": 0.45},
}


def signed_models(tmp_path: Path, manifest: dict[str, object] = MANIFEST) -> tuple[Path, Path]:
    """A models/ tree with the tiny model and its JSON manifest, signed; (MANIFEST.json, public key)."""
    models = tmp_path / "models"
    (models / "person").mkdir(parents=True)
    onnx.save_model(tiny_yolo(), models / "person" / "tiny.onnx")
    (models / "person" / "tiny.json").write_text(json.dumps(manifest), encoding="utf-8")
    generate_signing_key(tmp_path / "release.pem", tmp_path / "release.pub.pem")
    spec = ManifestSpec(models, [Path("person/tiny.onnx"), Path("person/tiny.json")], "models", "test-1")
    return sign_manifest(
        spec, tmp_path / "release.pem", models / "MANIFEST.json"
    ), tmp_path / "release.pub.pem"


def red_frame() -> np.ndarray:
    """A 128 x 64 BGR frame, pure red: channel 0 of the RGB input is 1.0 after scaling."""
    frame = np.zeros((64, 128, 3), np.uint8)
    frame[:, :, 2] = 255
    return frame


def test_signed_model_is_decoded_to_frame_pixels_with_threshold_and_nms(tmp_path: Path) -> None:
    manifest_path, public = signed_models(tmp_path)
    locator = load_onnx_locator(verify_manifest(manifest_path, public, kind="models"), "person/tiny.json")
    found = locator.locate(red_frame(), 0.1)
    # A 128x64 frame letterboxed into 64x64: scale 0.5, 16 px of grey (114) padding above and below,
    # so half the input's first channel is 1.0 (red) and half 114 / 255.
    factor = 0.5 + 0.5 * 114 / 255
    assert [d.score for d in found] == pytest.approx([0.9 * factor, 0.6 * factor], rel=1e-5)
    first = found[0].box
    assert (first.x, first.y, first.w, first.h) == pytest.approx((54.0, 12.0, 20.0, 40.0))
    second = found[1].box
    assert (second.x, second.y, second.w, second.h) == pytest.approx((14.0, 16.0, 12.0, 24.0))
    assert all(d.mask is None and d.keypoints is None for d in found)


def test_colour_order_comes_from_the_manifest(tmp_path: Path) -> None:
    manifest_path, public = signed_models(
        tmp_path, {**MANIFEST, "input": {**MANIFEST["input"], "color": "BGR"}}
    )
    locator = load_onnx_locator(verify_manifest(manifest_path, public, kind="models"), "person/tiny.json")
    assert locator.locate(red_frame(), 0.1) == []  # channel 0 is now blue: only the padding scores


def test_unsigned_manifest_is_refused(tmp_path: Path) -> None:
    manifest_path, public = signed_models(tmp_path)
    (manifest_path.parent / "person" / "tiny.json").write_text(json.dumps({**MANIFEST, "name": "x"}))
    with pytest.raises(ManifestError, match=r"tiny\.json"):
        load_onnx_locator(verify_manifest(manifest_path, public, kind="models"), "person/tiny.json")


def test_manifest_not_listed_is_refused(tmp_path: Path) -> None:
    manifest_path, public = signed_models(tmp_path)
    with pytest.raises(ModelIntegrityError, match=r"other\.json"):
        load_onnx_locator(verify_manifest(manifest_path, public, kind="models"), "person/other.json")


def test_background_masks_are_attached_to_model_boxes(tmp_path: Path) -> None:
    model_path = tmp_path / "tiny.onnx"
    onnx.save_model(tiny_yolo(), model_path)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    (tmp_path / "MANIFEST.sha256").write_text(f"{digest}  tiny.onnx\n")
    model = OnnxModel(model_path, manifest=tmp_path / "MANIFEST.sha256")
    locator = OnnxPersonLocator(PersonModelManifest.model_validate(MANIFEST), model, BackgroundLocator())
    for _ in range(20):
        locator.locate(red_frame(), 0.1)
    frame = red_frame()
    frame[14:50, 56:72] = (200, 200, 200)  # someone inside the first box
    found = locator.locate(frame, 0.1)
    assert found[0].mask is not None and found[0].mask.mean() > 0.3
    assert found[1].mask is None  # nothing moved in the second box


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": 2}, "format"),
        ({"input": {**MANIFEST["input"], "layout": "CHWN"}}, "input.layout"),
        ({"output": {"name": "o", "decode": "rtmpose-simcc"}}, "output.decode"),
        ({"thresholds": {"score": 1.5}}, "thresholds.score"),
        ({"colour": "RGB"}, "colour"),
    ],
)
def test_bad_manifest_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(PersonManifestError, match=field.replace(".", r"\.")):
        PersonModelManifest.from_json(json.dumps({**MANIFEST, **change}))


def test_invalid_json_is_a_manifest_error() -> None:
    with pytest.raises(PersonManifestError, match="invalid JSON"):
        PersonModelManifest.from_json("{")


def test_yolov5_rows_with_objectness() -> None:
    spec = OutputSpec(name="output", decode="yolo-boxes", objectness=True, classes=3, person_class=1)
    rows = np.array([[[10, 10, 4, 8, 0.5, 0.9, 0.8, 0.1], [20, 20, 4, 4, 0.9, 0.9, 0.1, 0.9]]], np.float32)
    boxes, scores, kpts = decode(rows, spec, (64, 64))
    assert scores == pytest.approx([0.4, 0.09])
    assert boxes[0] == pytest.approx([8, 6, 12, 14])
    assert kpts is None


def test_nmsed_xyxy_rows_keep_only_the_person_class() -> None:
    spec = OutputSpec(name="dets", decode="xyxy-score-class", normalized=True)
    rows = np.array([[0.1, 0.2, 0.3, 0.6, 0.8, 0.0], [0.5, 0.5, 0.6, 0.6, 0.9, 2.0]], np.float32)
    boxes, scores, _ = decode(rows, spec, (100, 50))
    assert scores == pytest.approx([0.8])
    assert boxes[0] == pytest.approx([10, 10, 30, 30])


def test_pose_rows_give_keypoints() -> None:
    spec = OutputSpec(name="output0", decode="yolo-pose", transpose=True, keypoints=2)
    rows = np.array([[30, 30, 10, 40, 0.7, 28, 12, 0.9, 31, 49, 0.8]], np.float32).T[None]
    boxes, scores, kpts = decode(rows, spec, (64, 64))
    assert scores == pytest.approx([0.7])
    assert boxes[0] == pytest.approx([25, 10, 35, 50])
    assert kpts is not None and kpts[0] == pytest.approx(np.array([[28, 12, 0.9], [31, 49, 0.8]]))


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.45, 10) == [1, 2]
    assert nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.45, 1) == [1]


def test_preprocess_normalises_and_lays_out_as_asked() -> None:
    manifest = PersonModelManifest.model_validate(
        {
            **MANIFEST,
            "input": {
                "name": "x",
                "shape": [1, 32, 32, 3],
                "layout": "NHWC",
                "color": "BGR",
                "resize": "stretch",
                "scale": 1.0,
                "mean": [10, 20, 30],
                "std": [2, 2, 2],
            },
        }
    )
    frame = np.full((16, 48, 3), (50, 60, 70), np.uint8)
    tensor, geometry = preprocess(frame, manifest.input)
    assert tensor.shape == (1, 32, 32, 3)
    assert tensor[0, 0, 0] == pytest.approx([20, 20, 20])
    assert geometry == pytest.approx((32 / 48, 2.0, 0.0, 0.0))
