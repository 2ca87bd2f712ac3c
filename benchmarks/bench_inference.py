"""Inference speed of the pose network vs torchvision's Keypoint R-CNN.

Same as ``kneeview bench inference``; arguments are passed through, e.g.
``python benchmarks/bench_inference.py --json --random-init``.
"""
from __future__ import annotations

import argparse
import sys

from kneeview.cli_bench import register


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_inference")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["bench", "inference", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
