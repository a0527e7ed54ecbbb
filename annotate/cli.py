"""``clsp annotate``: a thin wrapper over :func:`annotate.pipeline.annotate` (the ``annotate`` entry point of
``clsp.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from clsp.config import add_config_arguments, flag_overrides

ENGINE_CHOICES = ("vllm", "openai", "transformers", "acoustic")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "annotate", help="caption speech manifests with an engine (vllm, openai, transformers, acoustic)",
        description="Write one caption per (cut, kind, seed) into OUTPUT: manifests of the input file names with "
        "the new captions (status pending), shards/ (resumable), rejects.jsonl and stats.json. Rerunning the "
        "same command skips every row already written.")
    p.add_argument("--input", required=True, action="append", type=Path, metavar="PATH",
                   help="a manifest (X.jsonl.gz) or a data directory (every cuts_*.jsonl.gz); repeatable")
    p.add_argument("--output", required=True, type=Path, metavar="DIR", help="output data directory")
    p.add_argument("--engine", choices=ENGINE_CHOICES, default=None, help="engine (overrides the config; default acoustic)")
    p.add_argument("--model", default=None, help="model path / hub id / served name (engine_config.model)")
    p.add_argument("--views", type=int, default=None, help="captions per (cut, kind), seeds seed..seed+K-1")
    p.add_argument("--kinds", default=None, help="comma-separated caption kinds, e.g. fine,global")
    add_config_arguments(p, "annotate YAML (e.g. configs/annotate-demo.yaml)", "engine_config.max_concurrency=16")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster for the vllm engine ('auto': join the running cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_annotate)


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    """``--set`` items plus the dedicated flags, which win over the config file."""
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds is not None else None
    return flag_overrides(args.overrides, {"engine": args.engine, "engine_config.model": args.model,
                                           "views": args.views, "kinds": kinds,
                                           "engine_config.ray_address": args.ray_address})


def run_annotate(args: argparse.Namespace) -> int:
    from annotate.config import AnnotateConfig
    from annotate.pipeline import annotate
    from clsp.config import load_config

    cfg = load_config(AnnotateConfig, args.config, overrides_from_args(args))
    s = annotate(cfg, args.input, args.output, progress=not args.quiet)
    rows = s["rows"]
    print(f"annotate: {s['clips']} clips, {s['audio_hours']:.4f} h of audio -> {args.output} "
          f"(engine {s['engine']}, model {s['model']}, prompt {s['prompt_id']})")
    print(f"  rows {rows['planned']}: {rows['already_done']} already done, {rows['requested']} requested; "
          f"captions written {s['captions_written']}, failures {s['failures']}")
    rejects = ", ".join(f"{k} {v}" for k, v in s["rejects"].items()) or "none"
    print(f"  rejects: {rejects}")
    rate = s["audio_hours_per_engine_hour"]
    print(f"  {s['audio_hours_captioned']:.4f} h captioned in {s['engine_seconds']:.1f} s of engine time"
          f" ({f'{rate:.1f}' if rate is not None else '-'} audio-hours per engine-hour); wall {s['wall_seconds']:.1f} s")
    return 0
