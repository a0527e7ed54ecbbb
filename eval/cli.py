"""``clsp eval ...``, ``clsp score``, ``clsp classify``, ``clsp ground`` and ``clsp search ...``: thin wrappers
over ``eval/`` (and :mod:`clsp.grounding`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clsp.errors import ClspError
from clsp.outputs import output_dir


def _model_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--model", type=Path, required=required, help="exported model folder (CLSPModel.from_pretrained)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow code shipped inside the model folder to run (never allowed by the folder itself)")
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass (default 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _audio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio", nargs="+", default=[], metavar="WAV", help="audio files to score")
    p.add_argument("--audio-list", type=Path, help="a text file with one audio path per line (long lists)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="retrieval, zero-shot and style-similarity evaluation; corpus preparation",
                        description="Evaluate an exported model; each run prints a table and, with --out, writes "
                        "<name>.json and <name>.md (and a confusion-matrix PNG for zero-shot).")
    esub = ev.add_subparsers(dest="eval_command", required=True, metavar="COMMAND")

    r = esub.add_parser("retrieval", help="speech<->text retrieval: R@1/5/10, mAP@10 both ways (full N x N)",
                        description="One caption per clip: the first kept global caption or the last kept fine "
                        "caption (as CLSP's evaluation). Ties never count in the model's favour.")
    _model_arg(r)
    r.add_argument("--manifest", type=Path, required=True)
    r.add_argument("--kind", choices=["global", "fine"], default="global")
    r.add_argument("--caption", choices=["first", "last"], default=None, help="override which caption is used")
    r.add_argument("--out", type=Path, help="folder for retrieval_<kind>.json/.md")
    r.set_defaults(handler=_run_retrieval)

    z = esub.add_parser("zeroshot", help="zero-shot classification: WA, UA, per-class recall, confusion PNG",
                        description="Either a preset --task (CLSP's prompts) or --label-field with --template.")
    _model_arg(z)
    z.add_argument("--manifest", type=Path, required=True)
    z.add_argument("--task", help="preset: iemocap_emotion, ravdess_emotion, ravdess_gender, cremad_emotion, "
                   "cremad_age, cremad_gender")
    z.add_argument("--label-field", help="cut custom field holding the label (e.g. gender, emotion)")
    z.add_argument("--labels", nargs="+", help="labels to classify among (default: every value in the manifest)")
    z.add_argument("--template", default="A {} speaker.", help="prompt template with one {} (default: 'A {} speaker.')")
    z.add_argument("--out", type=Path, help="folder for zeroshot_<name>.json/.md/.png")
    z.set_defaults(handler=_run_zeroshot)

    s = esub.add_parser("similarity", help="Pearson/Spearman r of model similarity vs human ratings (CSV)",
                        description="CSV columns: audio, rating, and text (speech-text pair) or ref_audio "
                        "(speech-speech pair); optional group. Paths relative to the CSV's folder.")
    _model_arg(s)
    s.add_argument("--pairs", type=Path, required=True, help="ratings CSV")
    s.add_argument("--out", type=Path, help="folder for similarity.json/.md")
    s.set_defaults(handler=_run_similarity)

    gr = esub.add_parser("grounding", help="time-aligned style grounding: frame F1 per style value, segment error",
                         description="On clips with style_segments: each target's canonical phrase ('speaking fast', "
                         "'a loud voice', ...) scored per frame by the model's frame head, against frame labels "
                         "from the segments. Frame-level precision/recall/F1 per attribute value; per attribute "
                         "a segment error (missed + false alarm + confusion) / total duration, as EDER.")
    _model_arg(gr)
    gr.add_argument("--manifest", type=Path, required=True)
    gr.add_argument("--threshold", type=float, help="score above which a frame counts, for every target (default: "
                    "each target's threshold calibrated in the model, else 0.5)")
    gr.add_argument("--calibrate", action="store_true",
                    help="pick each target's threshold on this manifest (best frame F1; use a dev split, not the "
                    "clips you report on) and store them in the model folder's config.json (frame_head.thresholds)")
    gr.add_argument("--out", type=Path, help="folder for grounding.json/.md")
    gr.set_defaults(handler=_run_grounding)

    pr = esub.add_parser("prepare", help="make manifests from local IEMOCAP / RAVDESS / CREMA-D / ParaSpeechCaps / FCaps",
                         description="Writes OUT/cuts_<split>.jsonl.gz, OUT/prepare.json and OUT/rejects.jsonl.")
    pr.add_argument("corpus", choices=["iemocap", "ravdess", "cremad", "paraspeechcaps", "fcaps"])
    pr.add_argument("--root", type=Path, help="corpus folder (iemocap, ravdess, cremad)")
    pr.add_argument("--dataset", help="ParaSpeechCaps/FCaps: a local datasets copy or a hub id")
    pr.add_argument("--audio-root", type=Path, help="ParaSpeechCaps/FCaps: folder of the source audio corpora")
    pr.add_argument("--split", default="test", help="split to read/write (default test)")
    pr.add_argument("--column", action="append", default=[], metavar="ROLE=NAME",
                    help="ParaSpeechCaps/FCaps column override, e.g. fine_captions=long_captions (repeatable)")
    pr.add_argument("--include-song", action="store_true", help="RAVDESS: keep the song files too")
    pr.add_argument("--out", type=Path, required=True)
    pr.set_defaults(handler=_run_prepare)

    sc = sub.add_parser("score", help="JSON similarities of clips with texts (speech<->text) and reference clips",
                        description="Cosine similarities, batched; a progress bar for long lists.")
    _model_arg(sc)
    _audio_args(sc)
    sc.add_argument("--text", nargs="+", default=[], help="style descriptions")
    sc.add_argument("--ref-audio", nargs="+", default=[], metavar="WAV", help="reference clips (speech<->speech)")
    sc.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    sc.set_defaults(handler=_run_score)

    cl = sub.add_parser("classify", help="zero-shot labels for clips from label prompts",
                        description="Each clip gets the label whose prompt it is most similar to; JSON out.")
    _model_arg(cl)
    _audio_args(cl)
    cl.add_argument("--labels", nargs="+", required=True)
    cl.add_argument("--template", default="A {} speaker.", help="prompt template with one {} (default: 'A {} speaker.')")
    cl.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    cl.set_defaults(handler=_run_classify)

    gd = sub.add_parser("ground", help="when does a style hold? per-phrase time spans and score curves (JSON)",
                        description="Scores each --text phrase against every frame of each clip with the model's "
                        "frame head (sigmoid(<phrase, frame> / tau + b)); spans where the score is above "
                        "--threshold (gaps under 0.3 s bridged, spans under 0.2 s dropped), in seconds.")
    _model_arg(gd)
    gd.add_argument("--audio", nargs="+", required=True, metavar="WAV", help="audio files")
    gd.add_argument("--text", nargs="+", default=[], help='style phrases, e.g. "speaking fast" "whispering"')
    gd.add_argument("--threshold", type=float, help="score above which a frame is in a span, for every phrase "
                    "(default: the model's calibrated threshold of a target's phrase, else 0.5)")
    gd.add_argument("--plot", type=Path, help="PNG of the score curves (one clip: its curves; several: the first)")
    gd.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    gd.set_defaults(handler=_run_ground)

    se = sub.add_parser("search", help="exact embedding search over a manifest's clips (build, query)",
                        description="An index folder: cuts.jsonl.gz (row order), embeddings.npy, index.json.")
    ssub = se.add_subparsers(dest="search_command", required=True, metavar="COMMAND")
    b = ssub.add_parser("build", help="embed a manifest's clips into an index folder (resumable)")
    _model_arg(b)
    b.add_argument("--manifest", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True, help="index folder")
    b.add_argument("--overwrite", action="store_true", help="replace a finished index")
    b.set_defaults(handler=_run_search_build)
    q = ssub.add_parser("query", help="top-k clips for text (speech<->text) or audio (speech<->speech) queries")
    _model_arg(q, required=False)
    q.add_argument("--index", type=Path, required=True)
    q.add_argument("--text", nargs="+", default=[])
    q.add_argument("--audio", nargs="+", default=[], metavar="WAV")
    q.add_argument("--top-k", type=int, default=10)
    q.add_argument("--device", default="cpu", help="where to search: cpu, or cuda (embeddings copied to the GPU once)")
    q.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    q.set_defaults(handler=_run_search_query)


# ---- handlers ------------------------------------------------------------------------------------------

def _load_model(path: Path, args: argparse.Namespace):
    from clsp.model import CLSPModel

    return CLSPModel.from_pretrained(path, trust_remote_code=args.trust_remote_code)


def _progress(args: argparse.Namespace) -> bool | None:
    return False if args.quiet else None


def _emit(result: dict, out: Path | None) -> None:
    """The result as JSON on stdout or in ``out``. Non-finite numbers (not JSON) are an error, never printed."""
    from clsp.outputs import atomic_write_text, output_file

    try:
        text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ClspError("the model gave non-finite similarities (NaN or inf): its weights are damaged; "
                        "nothing was written") from None
    if out is None:
        print(text)
    else:
        atomic_write_text(output_file(out), text + "\n")
        print(f"wrote {out}", file=sys.stderr)


def _finish_run(args: argparse.Namespace, name: str, result: dict, markdown: str) -> int:
    from eval.report import write_run

    print(markdown, end="")
    if args.out:
        js, md = write_run(args.out, name, result, markdown)
        print(f"wrote {js} and {md}")
    return 0


def _run_retrieval(args: argparse.Namespace) -> int:
    from clsp.data.manifest import read_cuts
    from eval.report import retrieval_markdown
    from eval.tasks import caption_retrieval

    cuts = list(read_cuts(args.manifest))
    result = caption_retrieval(_load_model(args.model, args), cuts, args.kind, choice=args.caption,
                               batch_size=args.batch_size, progress=_progress(args))
    result["manifest"] = str(args.manifest)
    return _finish_run(args, f"retrieval_{args.kind}", result,
                       retrieval_markdown(result, f"{args.kind.capitalize()} caption retrieval: {args.manifest}"))


def _run_zeroshot(args: argparse.Namespace) -> int:
    from clsp.data.manifest import read_cuts
    from eval.presets import preset, template_prompts
    from eval.report import zeroshot_markdown
    from eval.tasks import zero_shot
    from eval.zeroshot import plot_confusion

    cuts = list(read_cuts(args.manifest))
    if args.task:
        task = preset(args.task)
        field, prompts, name = task.field, task.prompts, args.task
        if args.labels:
            prompts = {lab: prompts[lab] for lab in args.labels if lab in prompts}
    elif args.label_field:
        field, name = args.label_field, args.label_field
        labels = args.labels or sorted({str(c.custom[field]) for c in cuts if (c.custom or {}).get(field) is not None})
        if len(labels) < 2:
            raise ClspError(f"{args.manifest}: field '{field}' needs at least 2 labels, found {labels}")
        prompts = template_prompts(labels, args.template)
    else:
        raise ClspError("give --task PRESET or --label-field FIELD")
    result = zero_shot(_load_model(args.model, args), cuts, field, list(prompts), list(prompts.values()),
                       batch_size=args.batch_size, progress=_progress(args))
    if result["n"] == 0:
        raise ClspError(f"{args.manifest}: no cut has field '{field}' with one of {', '.join(prompts)}")
    result.update(task=name, manifest=str(args.manifest))
    title = f"Zero-shot {name}: {args.manifest}"
    if args.out:
        output_dir(args.out, "--out")
        png = plot_confusion(result["confusion"], result["labels"], Path(args.out) / f"zeroshot_{name}.png", title)
        result["confusion_png"] = str(png)
    return _finish_run(args, f"zeroshot_{name}", result, zeroshot_markdown(result, title))


def _run_similarity(args: argparse.Namespace) -> int:
    from eval.report import similarity_markdown
    from eval.similarity import read_pairs, style_similarity

    pairs = read_pairs(args.pairs)  # checked before the model loads: a bad CSV fails fast
    result = style_similarity(_load_model(args.model, args), pairs, batch_size=args.batch_size, progress=_progress(args))
    result["pairs_file"] = str(args.pairs)
    return _finish_run(args, "similarity", result, similarity_markdown(result, f"Style similarity: {args.pairs}"))


def _run_grounding(args: argparse.Namespace) -> int:
    from clsp.data.manifest import read_cuts
    from clsp.model.clsp_model import store_frame_thresholds
    from eval.grounding import calibrate_thresholds, evaluate_grounding, grounding_markdown

    cuts = list(read_cuts(args.manifest))
    if not any((c.custom or {}).get("style_segments") for c in cuts):
        raise ClspError(f"{args.manifest}: no cut has 'style_segments' (times and labels) to evaluate grounding on")
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise ClspError(f"the threshold must be in (0, 1) (--threshold), got {args.threshold}")
    model = _load_model(args.model, args)
    if args.calibrate:
        if model.frame_head is None:
            raise ClspError(f"{args.model}: this model has no frame head to calibrate (train it with grounding.weight > 0)")
        thresholds = calibrate_thresholds(model, cuts, batch_size=args.batch_size, progress=_progress(args))
        store_frame_thresholds(args.model, thresholds)
        model.config.frame_head.thresholds = thresholds
        print(f"calibrated on {args.manifest}, stored in {Path(args.model) / 'config.json'}: "
              + ", ".join(f"{k} {v:.2f}" for k, v in thresholds.items()), file=sys.stderr)
    result = evaluate_grounding(model, cuts, threshold=args.threshold, batch_size=args.batch_size,
                                progress=_progress(args))
    result["manifest"] = str(args.manifest)
    return _finish_run(args, "grounding", result, grounding_markdown(result, f"Style grounding: {args.manifest}"))


def _run_ground(args: argparse.Namespace) -> int:
    from clsp.grounding import check_request, ground

    texts = check_request(args.text, args.threshold)  # before the model loads: bad input fails fast
    for path in args.audio:
        if not Path(path).is_file():
            raise ClspError(f"{path}: audio file not found")
    result = ground(_load_model(args.model, args), args.audio, texts, threshold=args.threshold, batch_size=args.batch_size)
    if args.plot:
        from eval.grounding import plot_grounding

        first = {**result["results"][0], "frame_shift": result["frame_shift"]}
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        result["plot"] = str(plot_grounding(first, args.plot, title=first["audio"]))
    _emit(result, args.out)
    return 0


def _run_prepare(args: argparse.Namespace) -> int:
    from eval import corpora

    if args.corpus in ("paraspeechcaps", "fcaps"):
        if not args.dataset or not args.audio_root:
            raise ClspError(f"prepare {args.corpus} needs --dataset and --audio-root")
        overrides = dict(_key_value(c) for c in args.column)
        summary = corpora.prepare_caption_dataset(args.dataset, args.audio_root, args.out, split=args.split,
                                                  preset=args.corpus, columns=overrides)
    else:
        if not args.root:
            raise ClspError(f"prepare {args.corpus} needs --root (the corpus folder)")
        fn = {"iemocap": corpora.prepare_iemocap, "ravdess": corpora.prepare_ravdess,
              "cremad": corpora.prepare_cremad}[args.corpus]
        kwargs = {"include_song": True} if args.corpus == "ravdess" and args.include_song else {}
        summary = fn(args.root, args.out, split=args.split, **kwargs)
    print(f"prepare {args.corpus}: {summary['clips']} clips ({summary['hours'] * 60:.1f} min), "
          f"{summary['rejected']} rejected -> {summary['manifest']}")
    for field, counts in summary["labels"].items():
        if counts:
            print(f"  {field}: " + " ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ClspError(f"--column expects ROLE=NAME, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _audio_items(args: argparse.Namespace) -> list[str]:
    items = list(args.audio)
    if args.audio_list:
        if not args.audio_list.is_file():
            raise ClspError(f"{args.audio_list}: audio list not found")
        items += [line.strip() for line in args.audio_list.read_text().splitlines() if line.strip()]
    if not items:
        raise ClspError("give clips with --audio and/or --audio-list")
    return items


def _run_score(args: argparse.Namespace) -> int:
    from eval.scoring import score

    audio = _audio_items(args)
    if not args.text and not args.ref_audio:
        raise ClspError("give --text and/or --ref-audio to score the clips against")
    result = score(_load_model(args.model, args), audio, args.text, args.ref_audio, batch_size=args.batch_size,
                   progress=_progress(args))
    _emit(result, args.out)
    return 0


def _run_classify(args: argparse.Namespace) -> int:
    from eval.scoring import classify

    audio = _audio_items(args)
    result = classify(_load_model(args.model, args), audio, args.labels, args.template, batch_size=args.batch_size,
                      progress=_progress(args))
    _emit(result, args.out)
    return 0


def _run_search_build(args: argparse.Namespace) -> int:
    from eval.search import build_index

    header = build_index(_load_model(args.model, args), args.manifest, args.out, model_dir=args.model,
                         batch_size=args.batch_size, progress=_progress(args), overwrite=args.overwrite)
    verb = "reused" if header.get("reused") else f"built in {header['build_seconds']} s"
    print(f"search index: {header['count']} clips x {header['dim']} dims {verb}, {header['rejected']} rejected "
          f"-> {args.out}")
    return 0


def _run_search_query(args: argparse.Namespace) -> int:
    from eval.search import SearchIndex, query_index

    if not args.text and not args.audio:
        raise ClspError("give --text and/or --audio queries")
    if args.top_k < 1:
        raise ClspError(f"--top-k must be >= 1, got {args.top_k}")
    index = SearchIndex.open(args.index, device=args.device)
    model_dir = args.model or (Path(index.header["model"]) if index.header.get("model") else None)
    if model_dir is None:
        raise ClspError(f"{args.index}: the index does not name its model; give --model")
    results = query_index(index, _load_model(model_dir, args), args.text, args.audio, args.top_k, args.batch_size)
    _emit({"index": str(args.index), "top_k": args.top_k, "queries": results}, args.out)
    return 0
