"""``clsp verify``: thin CLI over :func:`verify.pipeline.verify` (the ``verify`` entry point of ``clsp.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from clsp.config import add_config_arguments, flag_overrides


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="check captions (rules, acoustic grounding, LLM checklist): mark each kept or rejected",
        description="Check the pending captions of manifests (or data directories) and write the same "
        "manifest names to OUTPUT with every checked caption 'kept' or 'rejected' (with reasons), plus "
        "verify_summary.json. Checks run in the order rules -> acoustic -> llm.")
    p.add_argument("--input", dest="inputs", action="append", required=True, type=Path, metavar="PATH",
                   help="a manifest (X.jsonl.gz) or a data directory (every cuts_*.jsonl.gz); repeatable")
    p.add_argument("--output", required=True, type=Path, help="output directory")
    p.add_argument("--checks", default=None, metavar="LIST",
                   help="comma-separated checks among rules,acoustic,llm (default: the config's)")
    p.add_argument("--engine", default=None,
                   help="LLM engine: one of `clsp annotate --engine` that is an LLM (default: the config's)")
    p.add_argument("--model", default=None, help="LLM model id or path (default: the config's, Qwen/Qwen3-30B-A3B)")
    add_config_arguments(p, "YAML config (e.g. configs/verify-qwen3.yaml)", "rules.fine_min_chars=100")
    p.add_argument("--recheck", action="store_true", help="also re-check captions already kept/rejected")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_run_verify)


def _run_verify(args: argparse.Namespace) -> int:
    from annotate.engines.registry import load_run_config
    from verify.config import VerifyConfig
    from verify.pipeline import format_summary, verify

    checks = [c.strip() for c in args.checks.split(",") if c.strip()] if args.checks is not None else None
    flags = {"checks": checks, "engine": args.engine, "recheck": True if args.recheck else None}
    cfg = load_run_config(VerifyConfig, args.config, flag_overrides(args.overrides, flags), args.model)
    summary = verify(cfg, args.inputs, args.output, progress=not args.quiet)
    verb = "reused" if summary.get("reused") else f"done in {summary['seconds']} s"
    print(f"verify: {', '.join(summary['checks'])} {verb} -> {args.output}")
    print(format_summary(summary))
    return 0
