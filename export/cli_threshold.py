"""Set a bundle's decision threshold from held-out real images for a target false-positive rate.

The reals (a folder of images, or any dataset layout: only its real images are used) are
preprocessed like the runtime does and scored with the bundle's FP32 reference artifact; the
threshold is the lowest p_fake that calls at most --target-fpr of them fake. The manifest records the
threshold, how it was chosen and the evidence (number of reals, file-list hash, achieved FPR).

Examples:
    pinclip calibrate model.pinclip --reals held_out_reals/ --target-fpr 0.01
    pinclip calibrate model.pinclip --reals reals/ --target-fpr 0.01 --uncertain-fpr 0.05
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _band(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (p_fake values), got {text!r}") from None
    return low, high


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="model bundle (*.pinclip)")
    parser.add_argument("--reals", type=Path, required=True, help="held-out real images (folder or dataset)")
    parser.add_argument("--target-fpr", type=float, default=0.01, help="false-positive rate on reals (0.01)")
    band = parser.add_mutually_exclusive_group()
    band.add_argument(
        "--uncertain-band", type=_band, default=None, metavar="LO,HI", help="p_fake band: uncertain"
    )
    band.add_argument(
        "--uncertain-fpr",
        type=float,
        default=None,
        help="looser FPR; scores between the two thresholds are uncertain",
    )
    parser.add_argument("--json", action="store_true", help="print the threshold as JSON")


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.export.threshold import calibrate_threshold

    bundle = calibrate_threshold(
        args.bundle,
        args.reals,
        args.target_fpr,
        uncertain_band=args.uncertain_band,
        uncertain_fpr=args.uncertain_fpr,
    )
    threshold = bundle.manifest.threshold
    if args.json:
        print(
            json.dumps(
                {"value": threshold.value, "uncertain_band": threshold.uncertain_band, **threshold.evidence}
            )
        )
        return 0
    evidence = threshold.evidence
    print(
        f"threshold {threshold.value:.6f} (p_fake) for target FPR {evidence['target_fpr']:g}: "
        f"{evidence['achieved_fpr']:.4f} of {evidence['n_reals']} reals called fake"
    )
    if threshold.uncertain_band:
        print(f"uncertain band: [{threshold.uncertain_band[0]:.6f}, {threshold.uncertain_band[1]:.6f})")
    if not evidence["resolvable"]:
        print(f"warning: {evidence['n_reals']} reals cannot resolve an FPR of {evidence['target_fpr']:g}")
    print(f"written to {bundle.root / 'manifest.json'}")
    print(f"next: pinclip detect IMAGES --model {bundle.root}")
    return 0
