"""The export report: `report.json` (everything, machine-readable) and `report.md` (for people)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pinclip_sdk.bundle import REPORT_JSON, REPORT_MD


def write_report(root: str | Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write both report files into `root`; return their paths."""
    root = Path(root)
    json_path, md_path = root / REPORT_JSON, root / REPORT_MD
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, md_path


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _points(value: float | None) -> float | None:
    return None if value is None else value * 100


def _options(options: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((options or {}).items())) or "-"


def gate_table(gate: dict[str, Any]) -> list[str]:
    """Markdown table of a gate result (also printed by `pinclip compare`): per artifact its numbers,
    the load options the bundle records for it and what evaluated it."""
    batch_key = next(
        (k for k in gate["reference"] if k.startswith("latency_ms_batch") and k != "latency_ms_batch1"), None
    )
    lines = [
        f"| artifact | load options | evaluated with | agreement (min) | AUC Δ (pt) | acc Δ (pt) | "
        f"max / mean logit err | ms b1 | ms {batch_key.removeprefix('latency_ms_') if batch_key else ''} | "
        "result |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, a in gate["artifacts"].items():
        auc_delta = _points(a["auc_delta"])
        lines.append(
            f"| {name} | {_options(a.get('load_options'))} | {a['evaluated_with']} | "
            f"{a['agreement']:.2%} ({a['min_agreement']:.1%}) | "
            f"{_fmt(auc_delta, '+.2f')} | {_fmt(_points(a['accuracy_delta']), '+.2f')} | "
            f"{a['max_abs_logit_error']:.2e} / {a['mean_abs_logit_error']:.2e} | "
            f"{a['latency_ms_batch1']:.2f} | {_fmt(a.get(batch_key) if batch_key else None, '.2f')} | "
            f"{'pass' if a['passed'] else 'FAIL: ' + '; '.join(a['failures'])} |"
        )
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Export report: {report.get('model_id', '')}", ""]
    if "gate" in report:
        gate = report["gate"]
        ref = gate["reference"]
        lines += [
            "## Gate",
            "",
            f"Reference: `{ref['artifact']}` (AUC {_fmt(ref['auc'])}, accuracy {_fmt(ref['accuracy'])}) "
            f"on {report.get('gate_set', {}).get('n_images', '?')} labelled images "
            f"({report.get('gate_set', {}).get('source', '')}); threshold {report.get('threshold', 0.5)}.",
            "",
            *gate_table(gate),
            "",
            f"Overall: **{'PASS' if gate['passed'] else 'FAIL'}** "
            f"(limits: {json.dumps(report.get('gate_config', {}))})",
            "",
        ]
    onnx_info = report.get("onnx")
    if onnx_info:
        lines += ["## ONNX export", ""]
        for batch, stats in onnx_info.get("parity", {}).items():
            lines.append(
                f"- parity vs PyTorch at {batch}: cosine {stats['cosine']:.8f}, "
                f"max |diff| {stats['max_abs_diff']:.2e}"
            )
        params = onnx_info.get("parameters", {})
        if params:
            lines.append(
                f"- parameters: module {params['module_parameters']}, graph float initializers "
                f"{params['graph_float_initializers']}, foreign {len(params['foreign_initializers'])}, "
                f"missing {params['missing_module_tensors']}"
            )
        lines.append(f"- exporter: {onnx_info.get('exporter', '')}, opset {onnx_info.get('opset', '')}")
        lines.append("")
    calibration = report.get("calibration")
    if calibration:
        lines += [
            "## INT8 calibration",
            "",
            "```json",
            json.dumps(calibration, indent=2, default=str),
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"
