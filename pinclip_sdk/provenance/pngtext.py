"""Generator parameters in PNG text chunks: Stable Diffusion web UIs, ComfyUI, InvokeAI, NovelAI.

These tools write their settings into the PNG they save; the chunk's presence states the image was generated.
Nothing here is signed, so a finding is a claim, not proof.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .findings import Finding
from .limits import MAX_LIST_ITEMS, MAX_STRING_CHARS
from .textutil import clip, names_generator

# keyword -> the generator family that writes it
GENERATOR_KEYS = {
    "parameters": "Stable Diffusion web UI",  # AUTOMATIC1111, Forge, SD.Next, Fooocus (a1111 scheme)
    "prompt": "ComfyUI",
    "workflow": "ComfyUI",
    "invokeai_metadata": "InvokeAI",
    "sd-metadata": "InvokeAI",
}
_A1111_FIELD = re.compile(r"\s*([A-Za-z][\w ]{0,40}):\s*([^,]{0,200})")
_A1111_KEEP = {"Steps": "steps", "Sampler": "sampler", "Model": "model", "Seed": "seed", "Size": "size"}


def interpret_texts(texts: Iterable[tuple[object, object]]) -> list[Finding]:
    """Findings from PNG text chunks given as (keyword, value) pairs; values of a wrong type become errors."""
    groups: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    for key, value in texts:
        if not isinstance(key, str):
            findings.append(
                Finding("png_text", error=f"text chunk keyword is {type(key).__name__}, not text")
            )
            continue
        family = GENERATOR_KEYS.get(key)
        is_software = key.lower() == "software"
        if family is None and not is_software:
            continue
        if not isinstance(value, str):
            findings.append(
                Finding(
                    "png_text",
                    says={"key": key},
                    error=f"text chunk {key!r} is {type(value).__name__}, not text",
                )
            )
            continue
        if is_software:
            findings.append(_software(value))
            continue
        try:
            detail = _PARSERS[family](key, value)
        except (ValueError, RecursionError, TypeError) as e:
            findings.append(
                Finding(
                    "png_text", says={"key": key, "generator": family}, error=f"{key!r} cannot be parsed: {e}"
                )
            )
            continue
        group = groups.setdefault(family, {"generator": family, "keys": []})
        group["keys"].append(key)
        for k, v in detail.items():
            group.setdefault(k, v)
    findings[:0] = [Finding("png_text", says=says, declares_generated=True) for says in groups.values()]
    return findings


def _software(value: str) -> Finding:
    says = {"key": "Software", "software": clip(value.strip(), MAX_STRING_CHARS)}
    generated = names_generator(value)
    if generated:
        says["generator"] = says["software"]
    return Finding("png_text", says=says, declares_generated=generated)


def _a1111(key: str, value: str) -> dict[str, Any]:
    """`parameters`: prompt line(s), an optional `Negative prompt:`, then `Steps: 20, Sampler: ...`."""
    lines = value.strip().splitlines()
    if not lines:
        raise ValueError("empty")
    detail: dict[str, Any] = {"prompt": clip(lines[0], MAX_STRING_CHARS)}
    settings = next((line for line in reversed(lines) if line.lstrip().startswith("Steps:")), "")
    for name, field_value in _A1111_FIELD.findall(settings):
        if name in _A1111_KEEP:
            detail[_A1111_KEEP[name]] = field_value.strip()
    return detail


def _json_graph(key: str, value: str) -> dict[str, Any]:
    """ComfyUI `prompt` (node id -> {class_type, inputs}) or `workflow` ({nodes: [...]}) JSON."""
    data = json.loads(value)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    nodes = data.get("nodes") if key == "workflow" else list(data.values())
    if not isinstance(nodes, list):
        raise ValueError("no node list")
    types = sorted(
        {
            str(n.get("class_type") or n.get("type"))
            for n in nodes
            if isinstance(n, dict) and (n.get("class_type") or n.get("type"))
        }
    )
    return {"nodes": len(nodes), "node_types": [clip(t, 80) for t in types[:MAX_LIST_ITEMS]]}


def _json_any(key: str, value: str) -> dict[str, Any]:
    """InvokeAI metadata: a JSON object; the model name is kept when present."""
    data = json.loads(value)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    model = data.get("model")
    name = model.get("name") or model.get("model_name") if isinstance(model, dict) else model
    return {"model": clip(name, MAX_STRING_CHARS)} if isinstance(name, str) else {}


_PARSERS = {"Stable Diffusion web UI": _a1111, "ComfyUI": _json_graph, "InvokeAI": _json_any}
