"""Evaluation reports: JSON, Markdown tables and a PNG plot of accuracy against degradation."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLUMNS = (
    ("real_acc", "Real acc"),
    ("fake_acc", "Fake acc"),
    ("acc", "Acc"),
    ("ap", "AP"),
    ("auc", "AUC"),
    ("tpr_at_1pct_fpr", "TPR@1%FPR"),
    ("tpr_at_5pct_fpr", "TPR@5%FPR"),
)


def _pct(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    """Strict JSON (NaN written as null), indented, keys in insertion order."""
    return json.dumps(_clean(report), indent=2, allow_nan=False)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_markdown(result: dict[str, Any]) -> str:
    """Per-generator table with the mean row (over generators), in percent."""
    header = ["Generator", "Reals", "Fakes", *(title for _, title in COLUMNS)]
    rows = []
    for name, m in result["generators"].items():
        reals = f"{m['n_real']}" + (" (shared)" if m["reals"] == "shared" else "")
        rows.append([name, reals, str(m["n_fake"]), *(_pct(m[key]) for key, _ in COLUMNS)])
    mean = result["mean"]
    rows.append(
        [f"**Mean ({mean['n_generators']})**", "", "", *(f"**{_pct(mean[key])}**" for key, _ in COLUMNS)]
    )
    return _table(header, rows)


def robustness_markdown(robustness: dict[str, Any]) -> str:
    """One row per grid cell: the means over generators at the fixed threshold."""
    header = ["JPEG q", "Blur σ", "Downscale", *(title for _, title in COLUMNS)]
    rows = []
    for cond in robustness["conditions"]:
        quality = "–" if cond["jpeg_quality"] is None else str(cond["jpeg_quality"])
        rows.append(
            [
                quality,
                f"{cond['blur_sigma']:g}",
                f"{cond['downscale']:g}",
                *(_pct(cond["mean"][key]) for key, _ in COLUMNS),
            ]
        )
    return _table(header, rows)


def _least_degraded(robustness: dict[str, Any]) -> dict[str, Any]:
    axes = robustness["axes"]
    qualities = axes["jpeg_quality"]
    return {
        "jpeg_quality": None if None in qualities else max(qualities),
        "blur_sigma": min(axes["blur_sigma"]),
        "downscale": max(axes["downscale"]),
    }


def _curve(robustness: dict[str, Any], axis: str) -> list[tuple[Any, dict[str, Any]]]:
    """Cells that vary `axis` with the other two axes at their least-degraded value."""
    base = _least_degraded(robustness)
    cells = [c for c in robustness["conditions"] if all(c[k] == v for k, v in base.items() if k != axis)]
    return [(c[axis], c["mean"]) for c in cells]


def plot_robustness(robustness: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Accuracy (mean, real, fake) and AP against each degradation axis, the others held clean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("jpeg_quality", "JPEG quality (none = not re-encoded)"),
        ("blur_sigma", "Gaussian blur σ (px)"),
        ("downscale", "downscale factor"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, (axis, label) in zip(axes, panels, strict=True):
        points = _curve(robustness, axis)
        if axis == "jpeg_quality":  # degradation grows to the right on every panel: none, 95, 75, ...
            points = sorted(points, key=lambda p: (0, 0) if p[0] is None else (1, -p[0]))
            ticks = ["none" if p[0] is None else str(p[0]) for p in points]
        else:
            points = sorted(points, key=lambda p: p[0], reverse=axis == "downscale")
            ticks = [f"{p[0]:g}" for p in points]
        xs = range(len(points))
        for key, style, name in (
            ("acc", "o-", "acc"),
            ("real_acc", "s--", "real acc"),
            ("fake_acc", "^--", "fake acc"),
            ("ap", "d:", "AP"),
        ):
            ys = [math.nan if m[key] is None else 100 * m[key] for _, m in points]
            ax.plot(xs, ys, style, label=name)
        ax.set_xticks(list(xs), ticks)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% (mean over generators)")
    axes[0].set_ylim(0, 102)
    axes[-1].legend(loc="lower left")
    threshold = robustness.get("threshold_p_fake")
    suffix = f" — fixed threshold p_fake ≥ {threshold:.4g}" if threshold is not None else " — fixed threshold"
    fig.suptitle((title or "Robustness") + suffix)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(out_dir: str | Path, report: dict[str, Any]) -> list[Path]:
    """Write `metrics.json`/`.md` and, with a `robustness` section, `robustness.json`/`.md`/`.png`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "metrics.json", out / "metrics.md"]
    body = {k: v for k, v in report.items() if k != "robustness"}
    written[0].write_text(to_json(body) + "\n", encoding="utf-8")
    written[1].write_text(metrics_markdown(report["metrics"]) + "\n", encoding="utf-8")
    robustness = report.get("robustness")
    if robustness:
        (out / "robustness.json").write_text(to_json(robustness) + "\n", encoding="utf-8")
        (out / "robustness.md").write_text(robustness_markdown(robustness) + "\n", encoding="utf-8")
        written += [
            out / "robustness.json",
            out / "robustness.md",
            plot_robustness(robustness, out / "robustness.png", Path(str(report.get("data", ""))).name),
        ]
    return written


def write_scores(path: str | Path, samples: Sequence[Any], logits: Sequence[float]) -> Path:
    """Per-image scores as CSV: path, label, generator, split, logit, p_fake (empty if unreadable)."""
    import csv

    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "generator", "split", "logit", "p_fake"])
        for sample, value in zip(samples, logits, strict=True):
            finite = value is not None and math.isfinite(value)
            p_fake = 1.0 / (1.0 + math.exp(-value)) if finite and value > -700 else (0.0 if finite else "")
            writer.writerow(
                [
                    sample.path,
                    sample.label,
                    sample.generator,
                    sample.split or "",
                    f"{value:.6g}" if finite else "",
                    f"{p_fake:.6g}" if finite else "",
                ]
            )
    return path
