"""benchmarks/accuracy.py (the protocol table and the ablation the README reports) runs end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy.py"


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_ablation_writes_tables_plot_and_every_run(accuracy, tmp_path, capsys):
    argv = ["--work", str(tmp_path), "--quick", "--seeds", "0,1", "--steps", "8", "--variants", "none,pin"]
    assert accuracy.main(argv) == 0
    record = json.loads((tmp_path / "results.json").read_text())
    assert set(record["runs"]) == {"none", "pin"}
    for variant, runs in record["runs"].items():
        assert [run["spec"]["seed"] for run in runs] == [0, 1]
        assert all(run["spec"]["noise"] == variant for run in runs)
        assert len(runs[0]["generators"]) == 5
    markdown = (tmp_path / "results.md").read_text()
    assert "| variant | mean acc | mean AP |" in markdown
    assert "| proxy_tconv (train) |" in markdown
    assert (tmp_path / "ablation.png").stat().st_size > 1000
    assert "Ablation (mean ± std over seeds" in capsys.readouterr().out


def test_unknown_variant_is_a_usage_error(accuracy, tmp_path, capsys):
    assert accuracy.main(["--work", str(tmp_path), "--variants", "none,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
