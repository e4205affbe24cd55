"""TF-side step of the MoveNet conversion: TFJS graph model -> GraphDef -> ONNX, plus TF reference outputs.

Run only by ``models.pose.convert`` with the python of its throwaway venv (tensorflow, tf2onnx, onnx,
numpy<2); nothing in the project imports this file, so the gateway never depends on TensorFlow.
Usage: ``python _convert_in_tf.py MODEL_JSON FRAMES_NPY OUT_DIR OPSET``.
"""

# mypy: disable-error-code="import-untyped,import-not-found"

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _canonical_onnx import canonicalize  # beside this script, which runs as a file (not a package)

_ITEM_BYTES = {"float32": 4, "int32": 4, "float16": 2, "uint8": 1, "uint16": 2, "bool": 1}
_ACTIVATIONS = {"Relu": "Relu", "Relu6": "Relu6", "Elu": "Elu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}


def read_weights(model_json: Path, manifest: list[dict[str, Any]]) -> dict[str, npt.NDArray[Any]]:
    """Every weight of a TFJS weights manifest, dequantised to its original dtype."""
    out: dict[str, npt.NDArray[Any]] = {}
    for group in manifest:
        blob = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            quant = spec.get("quantization")
            stored = quant["dtype"] if quant else spec["dtype"]
            count = int(np.prod(spec["shape"], dtype=np.int64))
            size = count * _ITEM_BYTES[stored]
            raw = np.frombuffer(blob, dtype=stored, count=count, offset=offset)
            offset += size
            if quant and stored != "float16":
                # affine uint8/uint16 quantisation: value = q * scale + min
                raw = raw.astype(np.float32) * quant["scale"] + quant["min"]
            out[spec["name"]] = raw.astype(spec["dtype"]).reshape(spec["shape"])
        if offset != len(blob):
            raise ValueError(f"weights manifest covers {offset} of {len(blob)} bytes")
    return out


def _fused_ops(node: Any) -> list[str]:
    return [s.decode() for s in node.attr["fused_ops"].list.s]


def _unfuse(node: Any, graph_def: Any) -> list[Any]:
    """Plain Conv2D/DepthwiseConv2dNative + BiasAdd (+ activation) for a TFJS fused conv node."""
    ops = _fused_ops(node)
    if ops[:1] != ["BiasAdd"] or len(ops) > 2 or (len(ops) == 2 and ops[1] not in _ACTIVATIONS):
        raise ValueError(f"{node.name}: unsupported fused ops {ops}")
    base = "Conv2D" if node.op == "_FusedConv2D" else "DepthwiseConv2dNative"
    conv = graph_def.node.add()
    conv.name, conv.op = node.name + "/unfused_conv", base
    conv.input.extend(node.input[:2])
    keep: tuple[str, ...] = ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings")
    keep += ("use_cudnn_on_gpu",) if base == "Conv2D" else ()
    for key in keep:
        if key in node.attr:
            conv.attr[key].CopyFrom(node.attr[key])
    bias = graph_def.node.add()
    bias.name, bias.op = node.name + ("/unfused_bias" if len(ops) == 2 else ""), "BiasAdd"
    bias.input.extend([conv.name, node.input[2]])
    bias.attr["T"].CopyFrom(node.attr["T"])
    bias.attr["data_format"].CopyFrom(node.attr["data_format"])
    made = [conv, bias]
    if len(ops) == 2:
        act = graph_def.node.add()
        act.name, act.op = node.name, _ACTIVATIONS[ops[1]]
        act.input.append(bias.name)
        act.attr["T"].CopyFrom(node.attr["T"])
        made.append(act)
    return made


def build_graph_def(model_json: Path) -> tuple[Any, dict[str, Any]]:
    """The model as a frozen TF GraphDef (weights filled in, TFJS-only ops rewritten) and its signature."""
    import tensorflow as tf
    from google.protobuf import json_format

    model = json.loads(model_json.read_text())
    weights = read_weights(model_json, model["weightsManifest"])
    source = tf.compat.v1.GraphDef()
    topology = {k: v for k, v in model["modelTopology"].items() if k in ("node", "versions")}
    json_format.ParseDict(topology, source)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.versions.CopyFrom(source.versions)
    for node in source.node:
        if node.op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            _unfuse(node, graph_def)
            continue
        new = graph_def.node.add()
        new.CopyFrom(node)
        if node.op == "Const" and node.name in weights:
            new.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights.pop(node.name)))
        if node.op == "TopKV2":
            # the TFJS converter drops attrs that have defaults in TF; tf2onnx reads them directly
            for key in ("Tk", "index_type"):
                if key not in new.attr:
                    new.attr[key].type = tf.int32.as_datatype_enum
    if weights:
        raise ValueError(f"weights without a Const node: {sorted(weights)[:5]}")
    return graph_def, model["signature"]


def io_names(signature: dict[str, Any]) -> tuple[str, str]:
    """The single input and output tensor names (``input:0``, ``Identity:0``)."""
    (inp,) = signature["inputs"].values()
    (out,) = signature["outputs"].values()
    return inp["name"], out["name"]


def run_tf(graph_def: Any, names: tuple[str, str], frames: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """TensorFlow's output for each frame (batch 1 each, as the model was exported)."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        outs = [session.run(names[1], {names[0]: f[None].astype(np.int32)}) for f in frames]
    return np.stack(outs).astype(np.float32)


def to_onnx(graph_def: Any, names: tuple[str, str], opset: int, path: Path) -> None:
    """Convert with tf2onnx at ``opset`` and save to ``path``."""
    import tf2onnx

    model, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=[names[0]], output_names=[names[1]], opset=opset
    )
    model.producer_name = "tf2onnx " + tf2onnx.__version__ + " via models/pose/convert.py"
    uint8_input(model)
    canonicalize(model)
    path.write_bytes(model.SerializeToString())


def uint8_input(model: Any) -> None:
    """Make the int32 image input uint8 (a Cast inside): onnxruntime callers pass pixels as they are."""
    import onnx
    from onnx import TensorProto, helper

    (graph_input,) = model.graph.input
    if graph_input.type.tensor_type.elem_type != TensorProto.INT32:
        raise ValueError(f"input {graph_input.name}: expected int32")
    inner = graph_input.name + "__int32"
    for node in model.graph.node:
        node.input[:] = [inner if name == graph_input.name else name for name in node.input]
    cast = helper.make_node("Cast", [graph_input.name], [inner], to=TensorProto.INT32)
    model.graph.node.insert(0, cast)
    graph_input.type.tensor_type.elem_type = TensorProto.UINT8
    onnx.checker.check_model(model)


def fp16_weights(src: Path, dst: Path, min_elements: int = 64) -> dict[str, int]:
    """A copy of ``src`` whose large float initializers are stored as fp16, each behind a Cast to fp32."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts, kept, stats = [], [], {"fp16": 0, "exact": 0, "fp32": 0}
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype != np.float32 or arr.size < min_elements:
            kept.append(init)
            stats["fp32"] += arr.dtype == np.float32
            continue
        half = arr.astype(np.float16)
        stats["fp16"] += 1
        stats["exact"] += bool(np.array_equal(half.astype(np.float32), arr))
        kept.append(numpy_helper.from_array(half, init.name + "__fp16"))
        casts.append(helper.make_node("Cast", [init.name + "__fp16"], [init.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    dst.write_bytes(model.SerializeToString())
    return stats


def main(argv: list[str]) -> None:
    """Convert one model; write fp32 and fp16-weight ONNX files, TF outputs and versions to OUT_DIR."""
    import tensorflow as tf
    import tf2onnx

    model_json, frames_npy, out_dir, opset = Path(argv[0]), Path(argv[1]), Path(argv[2]), int(argv[3])
    graph_def, signature = build_graph_def(model_json)
    names = io_names(signature)
    to_onnx(graph_def, names, opset, out_dir / "fp32.onnx")
    stats = fp16_weights(out_dir / "fp32.onnx", out_dir / "fp16w.onnx")
    np.save(out_dir / "tf_outputs.npy", run_tf(graph_def, names, np.load(frames_npy)))
    info: dict[str, Any] = {"input": names[0], "output": names[1], "fp16_initializers": stats}
    info |= {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "opset": opset}
    (out_dir / "tf_side.json").write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
