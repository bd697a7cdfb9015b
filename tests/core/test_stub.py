"""`_core.pyi` matches the compiled module's names and parameters (docs/design.md#s21-packaging-and-stub)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pinclip_sdk
from pinclip_sdk import _core

STUB = Path(pinclip_sdk.__file__).with_name("_core.pyi")


def _stub_signatures() -> dict[str, list[str]]:
    tree = ast.parse(STUB.read_text())
    sigs: dict[str, list[str]] = {}

    def params(fn: ast.FunctionDef) -> list[str]:
        return [a.arg for a in fn.args.args if a.arg != "self"]

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            sigs[node.name] = params(node)
        elif isinstance(node, ast.ClassDef):
            sigs[node.name] = []
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    sigs[f"{node.name}.{item.name}"] = params(item)
        elif isinstance(node, ast.AnnAssign):
            sigs[node.target.id] = []
    return sigs


def _bound_params(obj) -> list[str]:
    first = (obj.__doc__ or "").splitlines()[0]
    inside = first[first.index("(") + 1 : first.rindex(")")]
    return [m for m in re.findall(r"(\w+):", inside) if m != "self"]


def test_stub_lists_every_public_name():
    sigs = _stub_signatures()
    module_names = {n for n in dir(_core) if not n.startswith("_")} | {"__version__"}
    engine_names = {f"Engine.{n}" for n in dir(_core.Engine) if not n.startswith("_")}
    stub_names = {n for n in sigs if "." not in n} | {n for n in sigs if n.startswith("Engine.")}
    assert module_names | engine_names | {"Engine.__init__"} == stub_names


def test_stub_parameters_match_bindings():
    sigs = _stub_signatures()
    for name in ("simd_kernels", "float_to_half", "yuv420_to_rgb"):
        assert sigs[name] == _bound_params(getattr(_core, name)), name
    for name in ("plan", "lut", "run", "resize_u8"):
        assert sigs[f"Engine.{name}"] == _bound_params(getattr(_core.Engine, name)), name
    init_doc = _core.Engine.__init__.__doc__.splitlines()[0]
    assert sigs["Engine.__init__"] == [m for m in re.findall(r"(\w+):", init_doc) if m != "self"]
