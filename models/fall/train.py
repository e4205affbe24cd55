"""Train, export and document the fall model: ``python -m models.fall.train`` (part of `make models`).

Data: simulator scenes only (``sim.video.generate.random_scene``), seeds below 10000, rendered and
run through the gateway's own camera path (models/fall/data.py). Nothing under
``../shared/datasets/fall/`` is read here: those files are for evaluation (models/fall/evaluate.py).

Model: a window of 3 s of silhouette features at 10 Hz (30 x 6 values, see
gateway/vision/silhouette.py) -> logistic regression, a small multilayer perceptron or
gradient-boosted trees, whichever wins on validation -> the probability that a fall ended in the
window. Candidates are compared on a validation split of the training seeds (every fifth seed) by
the detector's event-level results, replayed through the gateway's state machine; the best is
refitted on all training seeds. Deterministic: fixed seeds,
single-threaded BLAS is not required because the weights are rounded before export is checked.

Outputs: models/fall/fall_model.onnx (float), models/fall/fall_model.int8.onnx (dynamic INT8, from
onnxruntime.quantization, compared here for size, agreement and speed), the generated part of
models/fall/MODEL_CARD.md, and models/MANIFEST.sha256. Then run ``python -m models.release``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from gateway.vision.fall import FallSettings
from gateway.vision.silhouette import FEATURES, WINDOW_STEPS
from models.fall.cache import load_scenes
from models.fall.card import BEGIN_CARD, render
from models.fall.data import SceneData, labels
from models.fall.replay import FloatArray
from models.fall.scoring import INPUT, OUTPUT, SimScore, onnx_scorer, score_scenes
from models.generated import END, replace_section
from models.manifest import sha256_file, write_manifest
from models.onnx_export import IR_VERSION, OPSET, finish

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "fall_model.onnx"
INT8_PATH = HERE / "fall_model.int8.onnx"
CARD_PATH = HERE / "MODEL_CARD.md"

KINDS = ("fall", "adl")  # sim.video.generate scene kinds: one fall; none (often a lie-down on purpose)
TRAIN_SCENES = {"fall": 500, "adl": 500}  # seeds 0..n-1 of each kind
VALIDATION_EVERY = 5  # seeds with seed % 5 == 0 are the validation split
SEED = 20261127
THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)  # operating points tried on validation
TREE_NEGATIVE_STRIDE = 3


def jobs() -> list[tuple[int, str]]:
    """(seed, kind) of every training scene; all seeds < 10000."""
    return [(seed, kind) for kind in KINDS for seed in range(TRAIN_SCENES[kind])]


@dataclass(frozen=True, slots=True)
class Dataset:
    """Windows, labels and weights pooled over scenes."""

    x: FloatArray
    y: np.ndarray
    w: np.ndarray


def pooled(scenes: list[SceneData]) -> Dataset:
    """All labelled (weight > 0) windows of ``scenes``."""
    xs, ys, ws = [], [], []
    dim = WINDOW_STEPS * len(FEATURES)
    for scene in scenes:
        y, w = labels(scene)
        keep = w > 0
        xs.append(scene.records.windows.reshape(-1, dim)[keep])
        ys.append(y[keep])
        ws.append(w[keep])
    return Dataset(
        np.concatenate(xs).reshape(-1, dim).astype(np.float32), np.concatenate(ys), np.concatenate(ws)
    )


def candidates() -> dict[str, Pipeline]:
    """The model family compared on validation (all small enough for a Pi, all exportable)."""
    return {
        "logistic": make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)
        ),
        "mlp-64-32": make_pipeline(StandardScaler(), _mlp((64, 32))),
        "mlp-128-64": make_pipeline(StandardScaler(), _mlp((128, 64))),
        "boosted-trees-d3": make_pipeline(_trees(depth=3, rounds=200)),
        "boosted-trees-d5": make_pipeline(_trees(depth=5, rounds=150)),
    }


# Scored on validation for reference only: skl2onnx 1.20 cannot convert scikit-learn 1.9's
# HistGradientBoostingClassifier (ValueError building TreeEnsembleClassifier); the exact-split
# GradientBoostingClassifier in the family above converts and is its exportable counterpart.
REFERENCE = "histogram boosted trees (not exportable)"


def reference() -> Pipeline:
    """A strong model that cannot be exported, to show what the exportable family leaves on the table."""
    return make_pipeline(HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, random_state=SEED))


def _trees(depth: int, rounds: int) -> GradientBoostingClassifier:
    # Half the windows and 30 % of the 180 inputs per tree: minutes instead of an hour on ~10^5
    # windows, and the usual regularisation of stochastic gradient boosting.
    return GradientBoostingClassifier(
        n_estimators=rounds,
        max_depth=depth,
        learning_rate=0.1,
        subsample=0.5,
        max_features=0.3,
        random_state=SEED,
    )


def _mlp(hidden: tuple[int, ...]) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=hidden, alpha=1e-3, max_iter=300, early_stopping=True, random_state=SEED
    )


def fit(model: Pipeline, data: Dataset) -> Pipeline:
    """Fit with the positives weighted up to a quarter of the negatives' total weight."""
    positives = float(data.w[data.y == 1].sum())
    negatives = float(data.w[data.y == 0].sum())
    boost = max(1.0, 0.25 * negatives / max(positives, 1.0))
    weight = np.where(data.y == 1, data.w * boost, data.w)
    last, estimator = model.steps[-1]
    if isinstance(estimator, LogisticRegression):
        weight = data.w  # class_weight="balanced" already
    x, y = data.x, data.y
    if isinstance(estimator, GradientBoostingClassifier):
        # Exact-split trees cost time per window, and neighbouring windows (0.1 s apart) are near
        # copies: every TREE_NEGATIVE_STRIDE-th negative, weighted up to the same total, loses little.
        rows = (data.y == 1) | (np.arange(len(data.y)) % TREE_NEGATIVE_STRIDE == 0)
        weight = np.where(data.y == 1, weight, weight * TREE_NEGATIVE_STRIDE)[rows]
        x, y = data.x[rows], data.y[rows]
    model.fit(x, y, **{f"{last}__sample_weight": weight})
    return model


def sklearn_scorer(model: Pipeline) -> Any:
    """Probability of the positive class, as the ONNX graph gives it."""
    return lambda x: model.predict_proba(x)[:, 1].astype(np.float32)


def window_scores(model: Any, data: Dataset) -> dict[str, float]:
    """Window-level average precision and ROC AUC."""
    p = model(data.x)
    return {
        "average_precision": float(average_precision_score(data.y, p)),
        "roc_auc": float(roc_auc_score(data.y, p)),
    }


@dataclass(frozen=True, slots=True)
class Choice:
    """Validation results of every candidate at its best operating point, and the chosen one."""

    results: dict[str, tuple[dict[str, float], SimScore, float]]  # window scores, events, threshold
    chosen: str

    @property
    def threshold(self) -> float:
        """The chosen candidate's operating point (probability threshold) on validation."""
        return self.results[self.chosen][2]


def _cached(scorer: Any) -> Any:
    """``scorer`` remembering its answer per array (validation is replayed at many thresholds)."""
    memo: dict[int, FloatArray] = {}

    def score(x: FloatArray) -> FloatArray:
        if id(x) not in memo:
            memo[id(x)] = scorer(x)
        return memo[id(x)]

    return score


def _rank(score: SimScore) -> tuple[float, int]:
    return score.f1, -score.false_alarms


def choose(train: list[SceneData], val: list[SceneData], settings: FallSettings) -> Choice:
    """Fit each candidate on ``train``; on ``val`` find its best threshold by event-level F1 (then
    fewer false alarms); choose the best candidate the same way."""
    data = pooled(train)
    held = pooled(val)
    results = {}
    for name, model in [*candidates().items(), (REFERENCE, reference())]:
        scorer = _cached(sklearn_scorer(fit(model, data)))
        by_threshold = {
            t: score_scenes(val, scorer, dataclasses.replace(settings, threshold=t)) for t in THRESHOLDS
        }
        best = max(THRESHOLDS, key=lambda t: _rank(by_threshold[t]))
        results[name] = (window_scores(scorer, held), by_threshold[best], best)
        print(f"  {name} @ {best}: {results[name][0]} {results[name][1].summary()}", flush=True)
    chosen = max(candidates(), key=lambda n: _rank(results[n][1]))
    return Choice(results, chosen)


def calibration_exponent(threshold: float) -> float:
    """gamma with threshold ** gamma = 0.5: p -> p ** gamma puts the operating point at 0.5."""
    return math.log(0.5) / math.log(threshold)


def build_onnx(model: Pipeline, threshold: float, doc: str) -> onnx.ModelProto:
    """The fitted pipeline as ONNX: "windows" float32 [N, 180] -> "fall_probability" float32 [N, 1].

    The classifier's probability p is returned as p ** gamma, a monotone recalibration that puts the
    operating point chosen on validation (``threshold``) at 0.5, the detector's default threshold.
    """
    dim = WINDOW_STEPS * len(FEATURES)
    raw: onnx.ModelProto = to_onnx(
        model,
        np.zeros((1, dim), np.float32),
        options={id(model.steps[-1][1]): {"zipmap": False}},
        target_opset=OPSET,
        initial_types=None,
    )
    graph = raw.graph
    probabilities = next(o.name for o in graph.output if "prob" in o.name)
    graph.input[0].name, old_input = INPUT, graph.input[0].name
    for node in graph.node:
        node.input[:] = [INPUT if name == old_input else name for name in node.input]
    graph.initializer.extend(
        [
            helper.make_tensor("col1_start", TensorProto.INT64, [1], [1]),
            helper.make_tensor("col1_end", TensorProto.INT64, [1], [2]),
            helper.make_tensor("col_axis", TensorProto.INT64, [1], [1]),
            helper.make_tensor("gamma", TensorProto.FLOAT, [], [calibration_exponent(threshold)]),
        ]
    )
    slice_p = helper.make_node("Slice", [probabilities, "col1_start", "col1_end", "col_axis"], ["p_fall"])
    graph.node.extend([slice_p, helper.make_node("Pow", ["p_fall", "gamma"], [OUTPUT])])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", 1]))
    # skl2onnx declares the default domain twice when the converter itself used none of its
    # operators (Scaler, LinearClassifier are ONNX-ML); the quantiser refuses such a model.
    versions = {o.domain: o.version for o in raw.opset_import}
    del raw.opset_import[:]
    raw.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in versions.items())
    return finish(
        raw,
        doc,
        {
            "name": "fall",
            "input": f"{INPUT} float32 [N,{dim}]: {WINDOW_STEPS} steps x ({', '.join(FEATURES)}), oldest first",
            "output": f"{OUTPUT} float32 [N,1]: p ** gamma, p = probability that a fall ended in the window",
            "operating_point": f"p = {threshold} (validation) maps to 0.5; gamma = {calibration_exponent(threshold):.6f}",
            "version": "the gateway reports sha256(file)[:12]; see models/MANIFEST.sha256",
        },
    )


def latency_us(path: Path, x: FloatArray, repeats: int = 2000) -> float:
    """Median microseconds for one window (batch 1), single thread."""
    score = onnx_scorer(path)
    one = x[:1]
    score(one)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        score(one)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e6)


def quantize(src: Path, dst: Path) -> None:
    """Dynamic INT8 quantisation of the MatMul/Gemm weights (activations stay float)."""
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    model = onnx.load(dst)
    model.ir_version = max(model.ir_version, IR_VERSION)
    onnx.save_model(model, dst)


def compare_int8(val: list[SceneData], settings: FallSettings) -> dict[str, Any]:
    """Size, window agreement, event-level scores and speed of the INT8 model vs the float one."""
    data = pooled(val)
    f32, i8 = onnx_scorer(MODEL_PATH), onnx_scorer(INT8_PATH)
    pf, pq = f32(data.x), i8(data.x)
    return {
        "size_bytes": {"float": MODEL_PATH.stat().st_size, "int8": INT8_PATH.stat().st_size},
        "max_abs_probability_difference": float(np.max(np.abs(pf - pq))),
        "quantized_nodes": sum(
            "Integer" in n.op_type or "Quant" in n.op_type for n in onnx.load(INT8_PATH).graph.node
        ),
        "decision_agreement": float(np.mean((pf >= settings.threshold) == (pq >= settings.threshold))),
        "window": {"float": window_scores(f32, data), "int8": window_scores(i8, data)},
        "events": {
            "float": score_scenes(val, f32, settings).as_dict(),
            "int8": score_scenes(val, i8, settings).as_dict(),
        },
        "latency_us_batch1": {"float": latency_us(MODEL_PATH, data.x), "int8": latency_us(INT8_PATH, data.x)},
    }


def main() -> None:
    """Record the training scenes, choose, fit, export, quantise, document."""
    started = time.monotonic()
    settings = FallSettings()
    scenes, failed = load_scenes(jobs())
    for seed, kind, error in failed:
        print(f"  simulator failed on {kind} seed {seed}: {error}")
    val = [s for s in scenes if s.seed % VALIDATION_EVERY == 0]
    train = [s for s in scenes if s.seed % VALIDATION_EVERY != 0]
    print(f"{len(scenes)} scenes recorded ({time.monotonic() - started:.0f} s); choosing on {len(val)}")
    choice = choose(train, val, settings)
    model = fit(candidates()[choice.chosen], pooled(scenes))
    doc = f"Fall model ({choice.chosen}) trained on {len(scenes)} simulator scenes (seeds < 10000)"
    onnx.save_model(build_onnx(model, choice.threshold, doc), MODEL_PATH)
    expected = sklearn_scorer(model)(pooled(val).x) ** calibration_exponent(choice.threshold)
    agreement = np.max(np.abs(onnx_scorer(MODEL_PATH)(pooled(val).x) - expected))
    if agreement > 1e-4:
        raise AssertionError(f"the ONNX graph disagrees with scikit-learn by {agreement}")
    quantize(MODEL_PATH, INT8_PATH)
    write_manifest()
    int8 = compare_int8(val, settings)
    facts = {"int8": int8, "sha256": sha256_file(MODEL_PATH), "seconds": time.monotonic() - started}
    section = render(scenes, failed, choice, facts)
    replace_section(CARD_PATH, BEGIN_CARD, section)
    (HERE.parents[1] / "run").mkdir(exist_ok=True)
    print(section.removeprefix(BEGIN_CARD).removesuffix(END).strip())
    print(json.dumps(int8, indent=1))
    print(f"\nwrote {MODEL_PATH.name}, {INT8_PATH.name}, {CARD_PATH.name}, MANIFEST.sha256")


if __name__ == "__main__":
    main()
