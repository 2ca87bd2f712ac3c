"""The ``kneeview`` command: the desktop app, and subcommands for scripts.

Each package owns its subcommands in a module with ``register(subparsers)``; the list
below is the one place that says which exist. Bad input (:class:`KneeViewInputError`)
is printed as one line naming the file and the problem, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from . import __version__
from .errors import KneeViewInputError

COMMAND_MODULES = (
    "kneeview.cli_info",
    "kneeview.cli_triangulate",
    "kneeview.session.cli",
    "kneeview.synth.cli",
    "kneeview.cli_bench",
    "kneeview.cli_report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kneeview",
        description="KneeView: dynamic knee valgus from a calibrated video. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"kneeview {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo recording in the app")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run_app(paths: list[str], demo: bool) -> int:
    try:
        from .gui.app import run
    except ImportError as exc:  # Qt or its system libraries missing: the commands still work
        print(
            f"kneeview: the desktop application cannot start ({exc}).\n"
            "Try `kneeview info PATH` to describe a recording, or `kneeview --help`.",
            file=sys.stderr,
        )
        return 1
    return run(paths, demo=demo)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    subcommands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    first_positional = next((a for a in argv if not a.startswith("-")), None)
    if first_positional is not None and first_positional not in subcommands:
        # `kneeview PATH [--demo]`: open a recording in the app.
        opts = [a for a in argv if a.startswith("-")]
        args = parser.parse_args(opts)
        return run_app([a for a in argv if not a.startswith("-")], demo=args.demo)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        return run_app([], demo=args.demo)
    try:
        return int(args.func(args) or 0)
    except KneeViewInputError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc), "path": str(exc.path) if exc.path else None, "field": exc.field}))
        print(f"kneeview {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
