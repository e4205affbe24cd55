"""What every exported model shares: the ONNX versions gateways load, and the last stamp and check."""

from __future__ import annotations

from typing import Final

import onnx
from onnx import helper

OPSET: Final = 17
IR_VERSION: Final = 8  # the oldest IR that carries opset 17, so older gateway onnxruntime builds load it


def finish(model: onnx.ModelProto, doc: str, props: dict[str, str]) -> onnx.ModelProto:
    """Stamp the IR version, description and metadata on `model`, check it in full, and return it."""
    model.ir_version = IR_VERSION
    model.doc_string = doc
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model
