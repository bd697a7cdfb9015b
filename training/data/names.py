"""Folder names of the public benchmarks, as they are on disk (docs/references.md#dataset-layouts)."""

from __future__ import annotations

# GenImage: `<generator dir>/<subset dir>/{train,val}/{ai,nature}`; the subset dir is the stable key
# (users often drop the generator level). Readable name -> (generator dir, subset dir).
GENIMAGE_PATHS: dict[str, tuple[str, str]] = {
    "SDv1.4": ("stable_diffusion_v_1_4", "imagenet_ai_0419_sdv4"),
    "SDv1.5": ("stable_diffusion_v_1_5", "imagenet_ai_0424_sdv5"),
    "Midjourney": ("Midjourney", "imagenet_midjourney"),
    "ADM": ("ADM", "imagenet_ai_0508_adm"),
    "Wukong": ("wukong", "imagenet_ai_0424_wukong"),
    "GLIDE": ("glide", "imagenet_glide"),
    "VQDM": ("VQDM", "imagenet_ai_0419_vqdm"),
    "BigGAN": ("BigGAN", "imagenet_ai_0419_biggan"),
}
GENIMAGE_SUBSET_NAMES = {subset.lower(): name for name, (_, subset) in GENIMAGE_PATHS.items()}
GENIMAGE_DIR_NAMES = {gen_dir.lower(): name for name, (gen_dir, _) in GENIMAGE_PATHS.items()}

# ForenSynths (CNNDetection) trains on ProGAN images of 20 LSUN classes, one folder per class.
LSUN_CLASSES = frozenset(
    {
        "airplane",
        "bicycle",
        "bird",
        "boat",
        "bottle",
        "bus",
        "car",
        "cat",
        "chair",
        "cow",
        "diningtable",
        "dog",
        "horse",
        "motorbike",
        "person",
        "pottedplant",
        "sheep",
        "sofa",
        "train",
        "tvmonitor",
    }
)

# AIGIBench test subsets that no other benchmark uses (folder spellings vary: compare normalised).
AIGIBENCH_ONLY_SUBSETS = frozenset(
    {
        "r3gan",
        "stylegan3",
        "styleganxl",
        "styleswim",
        "wfir",
        "sdxl",
        "sd3",
        "dalle3",
        "imagen3",
        "midjourneyv6",
        "flux1dev",
        "blip",
        "ipadapter",
        "photomaker",
        "instantid",
        "infiniteid",
        "e4s",
        "blendface",
        "faceswap",
        "inswap",
        "simswap",
        "communityai",
        "socialrf",
    }
)
AIGIBENCH_ROBUSTNESS_ROOTS = ("jpeg", "noise", "sample")
AIGIBENCH_SD_CLASS = "sdv1.4"


def normalise(name: str) -> str:
    """Lower-case and drop separators, so `FLUX1-dev`, `flux1_dev` and `FLUX1dev` compare equal."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def genimage_generator(subset_dir: str, generator_dir: str | None = None) -> str:
    """Readable generator name for a GenImage subset folder (on-disk name if unknown)."""
    if subset_dir.lower() in GENIMAGE_SUBSET_NAMES:
        return GENIMAGE_SUBSET_NAMES[subset_dir.lower()]
    if subset_dir.lower() in GENIMAGE_DIR_NAMES:
        return GENIMAGE_DIR_NAMES[subset_dir.lower()]
    if generator_dir is not None and generator_dir.lower() in GENIMAGE_DIR_NAMES:
        return GENIMAGE_DIR_NAMES[generator_dir.lower()]
    return subset_dir
