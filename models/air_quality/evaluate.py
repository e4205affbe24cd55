"""Scores of raw and corrected PM2.5 against the Luchtmeetnet reference, per sensor and pooled.

Scores the exported ONNX file itself (through onnxruntime), so the figures are those of the artefact
the gateway runs, not of a Python re-implementation. ``python -m models.air_quality.evaluate``
scores the committed model without retraining.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from models.air_quality.data import BEVERWIJK, ZAANDAM, Colocation, FloatArray, load_site, pool

MODEL_PATH = Path(__file__).resolve().parent / "pm_humidity.onnx"

Predictor = Callable[[Colocation], FloatArray]


@dataclass(frozen=True, slots=True)
class Scores:
    """Agreement of one series with the reference [ug/m3], except R^2 (dimensionless)."""

    n: int
    mae: float
    rmse: float
    bias: float
    r2: float


def score(reference: FloatArray, predicted: FloatArray) -> Scores:
    """MAE, RMSE, bias (mean of predicted - reference) and R^2 = 1 - SSE/SST against the reference."""
    error = predicted - reference
    sst = float(np.sum((reference - reference.mean()) ** 2))
    return Scores(
        n=int(reference.size),
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error**2))),
        bias=float(np.mean(error)),
        r2=1.0 - float(np.sum(error**2)) / sst if sst > 0 else float("nan"),  # undefined for a constant
    )


@dataclass(frozen=True, slots=True)
class Row:
    """Raw and corrected scores of one sensor (or of the pooled sensors) of one site."""

    site: str
    sensor: str
    raw: Scores
    corrected: Scores


def onnx_predictor(path: Path = MODEL_PATH) -> Predictor:
    """A predictor that runs the ONNX model at ``path`` on a Colocation's (pm25_raw, humidity)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict(data: Colocation) -> FloatArray:
        (out,) = session.run(["pm25"], {"input": data.features})
        return np.asarray(out, dtype=np.float64).reshape(-1)

    return predict


def score_site(site_name: str, parts: Sequence[Colocation], predict: Predictor) -> list[Row]:
    """One Row per sensor, then one for all sensors pooled."""
    rows = []
    for part in [*parts, pool(list(parts))]:
        rows.append(
            Row(
                site_name,
                part.sensor,
                score(part.pm25_ref, part.pm25_raw),
                score(part.pm25_ref, predict(part)),
            )
        )
    return rows


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table: raw -> corrected for each score."""
    head = (
        "| site | sensor | hours | MAE raw | MAE corr | RMSE raw | RMSE corr | bias raw | bias corr "
        "| R² raw | R² corr |\n"
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    body = "".join(
        f"| {r.site} | {r.sensor} | {r.raw.n} | {r.raw.mae:.2f} | {r.corrected.mae:.2f} "
        f"| {r.raw.rmse:.2f} | {r.corrected.rmse:.2f} | {r.raw.bias:+.2f} | {r.corrected.bias:+.2f} "
        f"| {r.raw.r2:.2f} | {r.corrected.r2:.2f} |\n"
        for r in rows
    )
    return head + body


Group = tuple[str, npt.NDArray[np.bool_]]


def band_groups(values: FloatArray, bands: Sequence[tuple[str, float, float]]) -> list[Group]:
    """One (label, mask) per half-open band [lo, hi) of ``values``."""
    return [(label, (values >= lo) & (values < hi)) for label, lo, hi in bands]


def month_groups(data: Colocation) -> list[Group]:
    """One (month, mask) per calendar month (UTC) of ``data``."""
    months = data.time.astype("datetime64[s]").astype("datetime64[M]")
    return [(str(m), months == m) for m in np.unique(months)]


def grouped_table(label: str, groups: Sequence[Group], data: Colocation, corrected: FloatArray) -> str:
    """Markdown table of hours, RMSE and bias, raw and corrected, for each non-empty group of rows."""
    lines = [
        f"| {label} | hours | RMSE raw | RMSE corr | bias raw | bias corr |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, mask in groups:
        if mask.any():
            raw = score(data.pm25_ref[mask], data.pm25_raw[mask])
            corr = score(data.pm25_ref[mask], corrected[mask])
            lines.append(
                f"| {name} | {raw.n} | {raw.rmse:.2f} | {corr.rmse:.2f} | {raw.bias:+.2f} | {corr.bias:+.2f} |"
            )
    return "\n".join(lines)


def pair_rmse(a: Colocation, b: Colocation) -> tuple[int, float]:
    """Hours in common and RMSE between two co-located sensors' raw PM2.5 over those hours."""
    _, i, j = np.intersect1d(a.time, b.time, return_indices=True)
    return int(i.size), float(np.sqrt(np.mean((a.pm25_raw[i] - b.pm25_raw[j]) ** 2)))


def main() -> None:
    """Print the scores of the committed model on the development and evaluation sets."""
    predict = onnx_predictor()
    rows = score_site("Beverwijk (dev)", load_site(BEVERWIJK), predict)
    rows += score_site("Zaandam (eval)", load_site(ZAANDAM), predict)
    print(markdown_table(rows), end="")


if __name__ == "__main__":
    main()
