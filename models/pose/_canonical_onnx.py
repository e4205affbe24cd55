"""Canonical form of an ONNX graph: node order and tensor names that depend only on the computation.

tf2onnx iterates sets of node objects (ordered by memory address), so two conversions of one graph
name and order nodes differently; canonical, the same model gives the same bytes (and the same sha256
in the signed models manifest). Used by ``_convert_in_tf.py``, which runs in the TF venv (onnx only).
"""

from __future__ import annotations

import hashlib
import heapq

import onnx


def _digest(*parts: bytes | str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()


def _initializer_digest(init: onnx.TensorProto) -> str:
    copy = onnx.TensorProto()
    copy.CopyFrom(init)
    copy.name = ""
    return _digest("init", copy.SerializeToString())


def _node_digest(node: onnx.NodeProto, known: dict[str, str]) -> str:
    attrs = sorted(node.attribute, key=lambda a: a.name)
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in attrs):
        raise ValueError(f"{node.name}: subgraphs are not canonicalised")
    return _digest(
        node.domain, node.op_type, *(a.SerializeToString() for a in attrs), *(known[i] for i in node.input)
    )


def _order(graph: onnx.GraphProto, known: dict[str, str]) -> tuple[list[onnx.NodeProto], dict[str, str]]:
    """Topological order, ties broken by each node's digest (its op, attributes and inputs' digests).

    A node that repeats an earlier one (same op, attributes and inputs) is dropped; the returned
    aliases map its outputs to the earlier node's, so the order never depends on names.
    """
    nodes = list(graph.node)
    waiting = [sum(name not in known for name in n.input) for n in nodes]
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    ready = [(_node_digest(n, known), i) for i, n in enumerate(nodes) if waiting[i] == 0]
    heapq.heapify(ready)
    order: list[onnx.NodeProto] = []
    first: dict[str, onnx.NodeProto] = {}
    alias: dict[str, str] = {}
    while ready:
        digest, index = heapq.heappop(ready)
        node = nodes[index]
        if digest in first:
            if node.op_type.startswith("Random"):
                raise ValueError(f"{node.name}: random ops cannot be merged")
            alias |= dict(zip(node.output, first[digest].output, strict=True))
        else:
            first[digest] = node
            order.append(node)
        for k, out in enumerate(node.output):
            known[out] = _digest(digest, str(k))
            for user in consumers.get(out, []):
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (_node_digest(nodes[user], known), user))
    if len(order) + sum(1 for n in nodes if n.output and n.output[0] in alias) != len(nodes):
        raise ValueError("graph has a cycle or an undefined input")
    return order, alias


def canonicalize(model: onnx.ModelProto) -> None:
    """Reorder nodes and rename every node, initializer and inner tensor canonically, in place."""
    graph = model.graph
    known = {"": ""} | {i.name: _digest("input", i.name) for i in graph.input}
    known |= {init.name: _initializer_digest(init) for init in graph.initializer}
    order, alias = _order(graph, known)
    fixed = {i.name for i in graph.input} | {o.name for o in graph.output} | {""}
    if fixed & alias.keys():
        raise ValueError(f"a graph output repeats another tensor: {sorted(fixed & alias.keys())}")
    for node in order:
        node.input[:] = [alias.get(n, n) for n in node.input]
    inits = {init.name: init for init in graph.initializer}
    rename: dict[str, str] = {}
    weights: list[onnx.TensorProto] = []
    for index, node in enumerate(order):
        for name in node.input:
            if name in inits and name not in rename:
                rename[name] = f"w{len(weights)}"
                weights.append(inits[name])
        for name in node.output:
            rename.setdefault(name, name if name in fixed else f"t{index}_{len(rename) - len(weights)}")
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
        node.name = f"{node.op_type}_{index}"
    for init in weights:  # in order of first use; initializers no node reads are dropped
        init.name = rename[init.name]
    kept = [onnx.TensorProto.FromString(w.SerializeToString()) for w in weights]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(order)
    del graph.value_info[:]  # shapes are re-inferred by onnxruntime; stale names must not survive
    onnx.checker.check_model(model)
