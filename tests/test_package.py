"""Package-level promises: the runtime stays light and the spec round-trips."""

import json
import subprocess
import sys

import pytest

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.errors import ConfigError, PinclipError


def test_import_does_not_load_torch(tmp_path):
    code = "import pinclip_sdk, pinclip_sdk.cli, sys; assert 'torch' not in sys.modules, 'torch imported'"
    # cwd outside the checkout: `python -c` puts the cwd first on sys.path, and the source tree
    # (no _core, no training/) would shadow the installed package
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_training_and_export_install_inside_the_package():
    import pinclip_sdk.export
    import pinclip_sdk.training

    assert pinclip_sdk.training.__name__ == "pinclip_sdk.training"
    assert pinclip_sdk.export.__name__ == "pinclip_sdk.export"


def test_spec_json_round_trip():
    spec = PreprocessSpec(size=(256, 192), resize_mode="longest", interpolation="bilinear", fill_color=7)
    assert PreprocessSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["size"] == [256, 192]


def test_spec_int_size_means_square():
    assert PreprocessSpec(size=224).size == (224, 224)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resize_mode": "crop"}, "resize_mode"),
        ({"interpolation": "lanczos"}, "interpolation"),
        ({"size": (0, 224)}, "positive"),
        ({"std": (0.1, 0.0, 0.1)}, "std"),
        ({"mean": (0.5, 0.5)}, "mean"),
        ({"fill_color": 300}, "fill_color"),
    ],
)
def test_spec_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PreprocessSpec(**kwargs)
    assert issubclass(ConfigError, PinclipError)


def test_spec_from_open_clip_matches_open_clip():
    open_clip = pytest.importorskip("open_clip")
    spec = PreprocessSpec.from_open_clip("ViT-B-16", "openai")
    assert spec.size == (224, 224)
    assert spec.mean == tuple(open_clip.OPENAI_DATASET_MEAN)
    assert spec.interpolation == "bicubic"
    assert spec.resize_mode == "shortest"
