"""``clsp demo``: a thin wrapper over :func:`recipes.demo.run_demo` (the ``demo`` entry point of ``clsp.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on the embedded synthetic corpus",
                       description="synthesise -> annotate (acoustic engine) -> verify -> train stage 1 and 2 -> "
                       "evaluate on unseen voices -> OUT/report.md. Finished stages are reused on a rerun.")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from recipes.demo import run_demo

    return run_demo(args.out)
