"""Build the offline proxy forensic benchmark (real photo crops vs fakes of small trained generators).

Real images are random multi-scale crops of photographs shipped with scikit-image, scikit-learn
and matplotlib; fakes are outputs of generator families trained here on real crops (transposed
convolution, pixel shuffle, bilinear and nearest-neighbour decoders, an iterative denoiser). The
output uses GenImage's layout, one family per folder, so `pinclip train`/`pinclip eval` read it:

    OUT/<family>/proxy_<family>/{train,val}/{ai,nature}/*.jpg

The build is deterministic for a seed and cached: it is skipped when OUT holds a build with the
same parameters (use --force to rebuild). About 1-3 minutes on 2 CPU cores at the default size.
This is a proxy for testing the pipeline and studying generalisation, not a real-world benchmark.
"""

from __future__ import annotations

import argparse
import json

from pinclip_sdk.training.proxy.proxy_config import FAMILIES, ProxyConfig


def configure(parser: argparse.ArgumentParser) -> None:
    defaults = ProxyConfig()
    parser.add_argument("out", help="output folder (new, empty, or an earlier proxy build)")
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="seed of everything (default %(default)s)"
    )
    parser.add_argument(
        "--size", type=int, default=defaults.size, help="image side in pixels (default %(default)s)"
    )
    parser.add_argument(
        "--train-per-class", type=int, default=defaults.train_per_class,
        help="train images per class and family (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--val-per-class", type=int, default=defaults.val_per_class,
        help="val (test) images per class and family (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--families", default=",".join(defaults.families),
        help=f"comma-separated generator families (default all: {', '.join(FAMILIES)})",
    )  # fmt: skip
    parser.add_argument(
        "--generator-steps", type=int, default=defaults.generator_steps,
        help="training steps per generator (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=defaults.threads, help="torch threads (default %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if an identical build exists")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.training.proxy import build_proxy

    config = ProxyConfig(
        seed=args.seed,
        size=args.size,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        families=tuple(name.strip() for name in args.families.split(",") if name.strip()),
        generator_steps=args.generator_steps,
        threads=args.threads,
    )
    summary = build_proxy(args.out, config, force=args.force)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
        return 0
    state = "reused (parameters unchanged)" if summary.cached else f"built in {summary.seconds:.1f} s"
    print(f"proxy benchmark in {summary.root}: {state}")
    for family, counts in summary.counts.items():
        print(f"  {family}: " + ", ".join(f"{key} {count}" for key, count in counts.items()))
    print("\nsharpness (mean |Laplacian| of the written JPEGs; fake / real near 1 = no blur shortcut):")
    print(summary.sharpness_table())
    print(f"\nnext: pinclip data inspect {summary.root}")
    return 0
