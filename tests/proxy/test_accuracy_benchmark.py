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
    variants = "none,pin,pin (linear pooled)"
    argv = ["--work", str(tmp_path), "--quick", "--seeds", "0,1", "--steps", "8", "--variants", variants]
    assert accuracy.main(argv) == 0
    record = json.loads((tmp_path / "results.json").read_text())
    assert list(record["runs"]) == variants.split(",")
    for variant, runs in record["runs"].items():
        assert [run["spec"]["seed"] for run in runs] == [0, 1]
        assert all(run["spec"]["noise"] == variant.split(" ")[0] for run in runs)
        assert len(runs[0]["generators"]) == 5
        gap = runs[0]["shortcut"]["generators"]["proxy_tconv"]  # cued minus clean fake accuracy
        assert gap["gap"] == pytest.approx(gap["fake_acc_cue"] - gap["fake_acc_clean"])
    assert {run["spec"]["head"] for run in record["runs"]["pin (linear pooled)"]} == {"linear"}
    assert all(row["sigma_rel"] > 0 for row in record["runs"]["pin"][0]["noise_trajectory"])
    assert record["runs"]["none"][0]["noise_trajectory"] == []
    markdown = (tmp_path / "results.md").read_text()
    assert "| variant | unseen-family acc | unseen-family AP |" in markdown
    assert "`pin` vs `none` on unseen families" in markdown
    assert "| proxy_tconv (train) |" in markdown
    assert (tmp_path / "ablation.png").stat().st_size > 1000
    assert "Ablation (mean ± std over seeds" in capsys.readouterr().out


def test_unknown_variant_is_a_usage_error(accuracy, tmp_path, capsys):
    assert accuracy.main(["--work", str(tmp_path), "--variants", "none,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
