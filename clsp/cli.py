"""The ``clsp`` command. Each subcommand is a thin wrapper over the library; ``main(argv)`` takes a list.

The base package's commands (synth, augment, manifest, train) are here; the others are found as entry points of
the ``clsp.commands`` group (pyproject.toml), which is how a third-party package adds one.

User errors (bad config, manifest, arguments) print one line ``clsp: error: ...`` and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from clsp.config import add_config_arguments, flag_overrides, load_config
from clsp.errors import ClspError, one_line

Handler = Callable[[argparse.Namespace], int]


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="make a synthetic speaking-style corpus (espeak-ng, flite, Piper, Kokoro) with measured labels, captions",
        description="Synthesise clips with controlled voice, pitch, rate, loudness, voice quality and emotion presets "
        "from several voice engines; measure their labels again; write wavs and one lhotse manifest per split "
        "(train/dev/test split by voice, plus heldout: every clip of the held-out engine).",
    )
    p.add_argument("--out", required=True, type=Path, help="output directory")
    add_config_arguments(p, "YAML config (default: built-in defaults)", "sources.piper.weight=0.2")
    p.add_argument("--num-clips", type=int, default=None, help="number of clips (overrides the config)")
    p.add_argument("--seed", type=int, default=None, help="random seed (overrides the config)")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (overrides the config)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty OUT (replacing its corpus); without it only the same corpus is reused")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from clsp.synth.corpus import SynthConfig, synthesize_corpus

    from clsp.outputs import output_dir

    flags = {"num_clips": args.num_clips, "seed": args.seed, "workers": args.workers}
    cfg = load_config(SynthConfig, args.config, flag_overrides(args.overrides, flags))
    if args.out.exists():
        output_dir(args.out, "--out")
    summary = synthesize_corpus(cfg, args.out, progress=not args.quiet, overwrite=args.overwrite)
    verb = "reused" if summary.get("reused") else f"made in {summary['seconds']} s"
    print(f"synth: {cfg.num_clips} clips {verb} -> {args.out}")
    sources = list(cfg.sources)
    print(f"  {'split':8s} {'clips':>6s} {'min':>6s} {'voices':>6s} {'augm.':>6s}  "
          + " ".join(f"{s:>7s}" for s in sources))
    for split, info in summary["splits"].items():
        print(f"  {split:8s} {info['clips']:6d} {info['hours'] * 60:6.1f} {info['voices']:6d} {info['augmented']:6d}  "
              + " ".join(f"{info['sources'].get(s, 0):7d}" for s in sources))
    for source, attrs in summary["labels"].items():
        parts = []
        for attr, counts in attrs.items():
            total = sum(counts.values()) - counts.get("unmeasured", 0)
            if total:
                parts.append(f"{attr} " + "/".join(f"{100 * counts.get(k, 0) / total:.0f}" for k in
                                                  ("kept", "replaced", "dropped")))
        print(f"  labels kept/replaced/dropped % ({source}): " + ", ".join(parts))
    return 0


def _add_augment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "augment", help="augmented copies of a manifest's clips (tempo, pitch, gain; reverb, noise, telephone, codec)",
        description="Write augmented copies of the clips of lhotse manifests: label-changing transforms (tempo -> "
        "rate, pitch shift -> pitch, gain -> loudness) with the style labels measured again and captions written "
        "from them, and label-preserving channel transforms (reverberation, noise, telephone band, lossy codec). "
        "Bad audio is a line in OUT/rejects.jsonl, never a crash.")
    p.add_argument("--input", required=True, nargs="+", type=Path,
                   help="manifests (cuts_*.jsonl.gz) or data directories holding them")
    p.add_argument("--out", required=True, type=Path, help="output directory (one manifest per input manifest)")
    add_config_arguments(p, "YAML config (e.g. configs/augment-demo.yaml; default: built-in defaults)",
                         "tempo.probability=1")
    p.add_argument("--seed", type=int, default=None, help="random seed (overrides the config)")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (overrides the config)")
    p.add_argument("--overwrite", action="store_true", help="replace what OUT holds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_augment)


def _run_augment(args: argparse.Namespace) -> int:
    from clsp.augment.config import AugmentRunConfig
    from clsp.augment.pipeline import augment_manifests

    cfg = load_config(AugmentRunConfig, args.config,
                      flag_overrides(args.overrides, {"seed": args.seed, "workers": args.workers}))
    s = augment_manifests(cfg, args.input, args.out, progress=not args.quiet, overwrite=args.overwrite)
    verb = "reused" if s.get("reused") else f"done in {s['seconds']} s"
    print(f"augment: {len(s['manifests'])} manifest(s) {verb} -> {args.out} (seed {cfg.seed})")
    print(f"  {'manifest':24s} {'input':>6s} {'copies':>7s} {'output':>7s} {'rejected':>9s}")
    for name, m in s["manifests"].items():
        print(f"  {name:24s} {m['input']:6d} {m['copies']:7d} {m['output']:7d} {m['rejected']:9d}")
    print("  transforms: " + (", ".join(f"{k} {v}" for k, v in s["steps"].items()) or "none"))
    for attr, counts in s["labels"].items():
        print(f"  labels {attr:14s} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("  rejects: " + (", ".join(f"{k} {v}" for k, v in sorted(s["rejects"].items())) or "none")
          + (f" (see {args.out / 'rejects.jsonl'})" if s["rejects"] else ""))
    return 0


def _add_manifest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("manifest", help="check, summarise and convert lhotse manifests",
                       description="Tools for the CutSet manifests every stage exchanges.")
    msub = p.add_subparsers(dest="manifest_command", required=True, metavar="COMMAND")

    c = msub.add_parser("check", help="check every cut against the data model (and that audio files exist)",
                        description="Stops at the first bad cut with a one-line error naming it.")
    c.add_argument("manifest", type=Path)
    c.add_argument("--no-audio", action="store_true", help="do not check that audio files exist")
    c.set_defaults(handler=_run_manifest_check)

    i = msub.add_parser("info", help="print counts: cuts, hours, captions by kind/status/engine, attributes",
                        description="Summarise a manifest as JSON.")
    i.add_argument("manifest", type=Path)
    i.set_defaults(handler=_run_manifest_info)

    im = msub.add_parser("import-recipe", help="CLSP recipe / FCaps / ParaSpeechCaps fields -> our caption records",
                         description="Read short_captions/long_captions from supervisions into caption records.")
    im.add_argument("input", type=Path)
    im.add_argument("output", type=Path)
    im.add_argument("--dataset", default="recipe", help="name recorded as the captions' source model")
    im.set_defaults(handler=_run_import_recipe)

    ex = msub.add_parser("export-recipe", help="our caption records -> the recipe's short_captions/long_captions",
                         description="Write captions of a given status onto supervisions for the icefall recipe's "
                         "stage 2 (its stage 1 reads supervision.text from webdataset tars). Cuts with fewer than 1 "
                         "global or 2 fine captions of that status are left out and counted.")
    ex.add_argument("input", type=Path)
    ex.add_argument("output", type=Path)
    ex.add_argument("--status", default="kept", choices=["kept", "pending", "rejected"])
    ex.set_defaults(handler=_run_export_recipe)

    sh = msub.add_parser("export-shar", help="a manifest and its audio -> Lhotse Shar shards (sequential reads)",
                         description="Write the cuts (all custom fields kept) and their audio (FLAC) into numbered "
                         "shards, OUT/cuts.NNNNNN.jsonl.gz + OUT/recording.NNNNNN.tar, with lhotse's CutSet.to_shar. "
                         "`clsp train --data OUT` reads them in order, one tar per shard.")
    sh.add_argument("--manifest", required=True, type=Path,
                    help="the manifest to export (e.g. DATA/cuts_train.jsonl.gz)")
    sh.add_argument("--out", required=True, type=Path, help="a new or empty folder for the shards")
    sh.add_argument("--shard-size", type=int, default=1000, help="cuts per shard (default 1000)")
    sh.set_defaults(handler=_run_export_shar)


def _run_manifest_check(args: argparse.Namespace) -> int:
    from clsp.data.manifest import load_checked

    cuts = load_checked(args.manifest, check_audio=not args.no_audio)
    print(f"{args.manifest}: {len(cuts)} cuts OK")
    return 0


def _run_manifest_info(args: argparse.Namespace) -> int:
    from clsp.data.manifest import read_cuts, summarize

    print(json.dumps(summarize(read_cuts(args.manifest)), indent=2))
    return 0


def _run_import_recipe(args: argparse.Namespace) -> int:
    from clsp.data.manifest import read_cuts, write_cuts
    from clsp.data.recipe import from_recipe_cut

    cuts = read_cuts(args.input).map(lambda c: from_recipe_cut(c, dataset=args.dataset))
    write_cuts(cuts, args.output)
    print(f"imported -> {args.output}")
    return 0


def _run_export_recipe(args: argparse.Namespace) -> int:
    from collections import Counter

    from clsp.data.manifest import read_cuts, write_cuts
    from clsp.data.recipe import export_recipe_cuts

    left_out: Counter[str] = Counter()
    written = [0]

    def counted():
        for cut in export_recipe_cuts(read_cuts(args.input), args.status, left_out):
            written[0] += 1
            yield cut

    write_cuts(counted(), args.output)
    reasons = ", ".join(f"{n} with {why}" for why, n in sorted(left_out.items()))
    if not written[0]:
        args.output.unlink()
        raise ClspError(f"{args.input}: no cut has the captions the recipe's stage 2 needs ({reasons})")
    print(f"exported {written[0]} cuts -> {args.output}" + (f"; left out {sum(left_out.values())}: {reasons}"
                                                            if left_out else ""))
    return 0


def _run_export_shar(args: argparse.Namespace) -> int:
    from clsp.data.shar import export_shar

    s = export_shar(args.manifest, args.out, shard_size=args.shard_size)
    print(f"export-shar: {s['cuts']} cuts ({s['seconds'] / 3600:.2f} h of audio) in {s['shards']} shard(s), "
          f"{s['bytes'] / 2**20:.1f} MiB, {s['wall_s']} s -> {args.out}")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a CLSP model (stage 1 InfoNCE, stage 2 multi-positive, stage 3 attribute-sensitive)",
        description="Train on DATA/cuts_train.jsonl.gz (a directory written by `clsp synth` or `clsp annotate`), or "
        "on a Lhotse Shar export of it given as DATA (`clsp manifest export-shar`). "
        "Resumes from OUT/checkpoints when present; exports the final model to OUT/model. Multi-GPU/CPU: "
        "torchrun --nproc-per-node N -m clsp train ...")
    add_config_arguments(p, "training YAML (e.g. configs/demo-stage1.yaml)", "optim.base_lr=0.01", required=True)
    p.add_argument("--data", required=True, type=Path,
                   help="data directory with cuts_train.jsonl.gz, or a Shar export of it")
    p.add_argument("--out", required=True, type=Path, help="output directory (checkpoints, tensorboard, model)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from an exported model (stage 2 from stage 1; stage 3 from stage 1 or 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from clsp.train.config import TrainConfig
    from clsp.train.trainer import train

    from clsp.outputs import output_dir

    cfg = load_config(TrainConfig, args.config, args.overrides)
    output_dir(args.out, "--out")
    model_dir = train(cfg, args.data, args.out, init=args.init, progress=not args.quiet)
    print(f"train: model exported to {model_dir}")
    return 0


# Subcommands that live in other packages (annotate, verify, eval, the demo recipe, a third party's) are entry
# points of this group: ``NAME = "module:add_parsers"``, where ``add_parsers(sub)`` adds one or more subcommands
# and imports its heavy dependencies inside the handlers, so ``clsp --help`` stays fast.
COMMANDS_GROUP = "clsp.commands"


def command_plugins() -> list[metadata.EntryPoint]:
    """The entry points of :data:`COMMANDS_GROUP` of every installed distribution, sorted by name (a distribution
    installed twice counts once: the copy first on ``sys.path``, as :func:`importlib.metadata.entry_points` says)."""
    return sorted(metadata.entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clsp", description="Speaking-style captioning and contrastive "
                                     "language-speech pretraining.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(sub)
    _add_augment(sub)
    _add_manifest(sub)
    _add_train(sub)
    for ep in command_plugins():
        try:
            add_parsers = ep.load()
        except Exception as e:  # a broken plugin must not take the other commands down with it
            print(f"clsp: warning: command plugin {ep.name!r} ({ep.value}) did not load: {one_line(repr(e), 200)}",
                  file=sys.stderr)
            continue
        add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ClspError as e:
        print(f"clsp: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
