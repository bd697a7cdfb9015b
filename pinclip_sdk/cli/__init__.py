"""The `pinclip` command line: a thin layer over the Python API.

Each command lives in its own module, registered below by dotted path and imported only when
the parser is built. A command module defines `configure(parser)` and `run(args) -> int`, and
its docstring's first line is the command's help. Command modules must not import torch, the
training or the export packages at module level: `pinclip detect` has to work on an appliance
with only the runtime installed (docs/design.md#d9-dependencies-point-one-way).

Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pinclip_sdk.errors import PinclipError

# command name -> module path, or a group name -> {subcommand -> module path}
COMMANDS: dict[str, str | dict[str, str]] = {
    "train": "pinclip_sdk.training.cli_train",
    "eval": "pinclip_sdk.training.cli_eval",
    "data": {
        "inspect": "pinclip_sdk.training.cli_inspect",
        "build-proxy": "pinclip_sdk.training.proxy.cli",
    },
    "quickstart": "pinclip_sdk.training.quickstart",
    "export": "pinclip_sdk.export.cli_export",
    "calibrate": "pinclip_sdk.export.cli_threshold",
    "compare": "pinclip_sdk.export.cli_compare",
    "detect": "pinclip_sdk.cli.detect",
    "bench": "pinclip_sdk.cli.bench",
    "serve": "pinclip_sdk.cli.serve",
    "info": "pinclip_sdk.cli.info",
    "version": "pinclip_sdk.cli.version",
}


def _add_command(subparsers: argparse._SubParsersAction, name: str, module_path: str) -> None:
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        # Only the runtime is installed here, or the command's module is not there yet.
        parser = subparsers.add_parser(name, help=f"(unavailable: {exc.name} not installed)")
        parser.set_defaults(_unavailable=f"`pinclip {name}` needs {exc.name}: install pinclip-sdk[train]")
        return
    doc = (module.__doc__ or "").strip()
    parser = subparsers.add_parser(
        name,
        help=doc.splitlines()[0] if doc else None,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.configure(parser)
    parser.set_defaults(_run=module.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinclip",
        description="PiN-CLIP Edge SDK: train, export and run a detector of AI-generated images.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: SDK debug and other libraries' info; -vv: all debug",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, target in COMMANDS.items():
        if isinstance(target, str):
            _add_command(subparsers, name, target)
            continue
        group = subparsers.add_parser(name, help=f"{name} commands: {', '.join(target)}")
        group_sub = group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")
        for sub_name, module_path in target.items():
            _add_command(group_sub, sub_name, module_path)
    return parser


# Third-party loggers that speak up at import or during export whatever the root level says; held to
# WARNING (ERROR for import-time notices) unless -v asks for other libraries' INFO.
_NOISY_LIBRARIES = {"torch.utils.cpp_extension": logging.ERROR, "nncf": logging.WARNING}


def configure_logging(verbose: int) -> None:
    """The SDK's INFO lines by default; -v adds its DEBUG and other libraries' INFO; -vv everything.

    Other libraries log on the root logger (open_clip) or on their own (NNCF, torch), so the root
    level is the one switch the export code reads too (NNCF's progress bars show only at INFO).
    """
    root_level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    logging.basicConfig(level=root_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pinclip_sdk").setLevel(logging.DEBUG if verbose else logging.INFO)
    for name, level in _NOISY_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(level, root_level) if not verbose else root_level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if getattr(args, "_unavailable", None):
        print(f"pinclip: error: {args._unavailable}", file=sys.stderr)
        return 2
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(run(args) or 0)
    except PinclipError as exc:
        print(f"pinclip: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pinclip: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
