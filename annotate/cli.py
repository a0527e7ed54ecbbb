"""``clsp annotate``: a thin wrapper over :func:`annotate.pipeline.annotate` (the ``annotate`` entry point of
``clsp.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from annotate.engines.registry import engine_names
from clsp.config import add_config_arguments, flag_overrides


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "annotate", help=f"caption speech manifests with an engine ({', '.join(engine_names())})",
        description="Write one caption per (cut, kind, seed) into OUTPUT: manifests of the input file names with "
        "the new captions (status pending), shards/ (resumable), rejects.jsonl and stats.json. Rerunning the "
        "same command skips every row already written.")
    p.add_argument("--input", required=True, action="append", type=Path, metavar="PATH",
                   help="a manifest (X.jsonl.gz) or a data directory (every cuts_*.jsonl.gz); repeatable")
    p.add_argument("--output", required=True, type=Path, metavar="DIR", help="output data directory")
    p.add_argument("--engine", choices=engine_names(), default=None, help="engine (overrides the config; default acoustic)")
    p.add_argument("--model", default=None, help="model path / hub id / served name (engine_config.<engine>.model)")
    p.add_argument("--views", type=int, default=None, help="captions per (cut, kind), seeds seed..seed+K-1")
    p.add_argument("--kinds", default=None, help="comma-separated caption kinds, e.g. fine,global")
    add_config_arguments(p, "annotate YAML (e.g. configs/annotate-demo.yaml)", "engine_config.openai.max_concurrency=16")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster for the vllm engine ('auto': join the running cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_annotate)


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    """``--set`` items plus the dedicated flags (but ``--model``, which goes to the selected engine's section:
    :func:`annotate.engines.registry.load_run_config`), which win over the config file."""
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds is not None else None
    return flag_overrides(args.overrides, {"engine": args.engine, "views": args.views, "kinds": kinds,
                                           "engine_config.vllm.ray_address": args.ray_address})


def run_annotate(args: argparse.Namespace) -> int:
    from annotate.config import AnnotateConfig
    from annotate.engines.registry import load_run_config
    from annotate.pipeline import annotate

    cfg = load_run_config(AnnotateConfig, args.config, overrides_from_args(args), args.model)
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
