"""The vllm engine on CPU: start time, rows/s, and Ray Data's overhead over vLLM called directly.

Both paths run the same requests (the tiny random Qwen2-Audio checkpoint, synthetic clips, the
``clsp-style`` prompt, one row per (clip, kind, seed)) with the same vLLM engine arguments, in one run:

- Ray: ``VLLMEngine`` (Ray Data + ``ray.data.llm``); start = from creating the engine to the first result
  of a one-row call (Ray start, stage actors, vLLM start); then all rows in one ``generate`` call;
- direct: ``vllm.LLM(...)`` in this process; start = construction plus a one-row ``chat``; then all rows
  in one ``llm.chat`` call (per-row seeded ``SamplingParams``).

Printed: both start times, both wall times and rows/s, their ratio, and how many texts agree (same model,
seeds and prompts: they should all agree). Figures on a shared 2-core machine move with other load.

    .venv/bin/python benchmarks/vllm_engine.py [--clips 12] [--views 2] [--max-tokens 32] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def build_requests(corpus: Path, views: int, max_tokens: int, model: str) -> list:
    from clsp.audio_checks import load_checked_audio
    from annotate.engines.base import SamplingConfig
    from annotate.prompts import load_prompt
    from annotate.rows import RowPlan, make_request
    from clsp.data.manifest import read_cuts

    template = load_prompt("clsp-style")
    kinds = ("global", "fine")
    plan = RowPlan("vllm", model, template.id, kinds, tuple(range(views)))
    sampling = SamplingConfig(max_tokens=max_tokens)
    out = []
    for manifest in sorted(corpus.glob("cuts_*.jsonl.gz")):
        for cut in read_cuts(manifest):
            audio = load_checked_audio(cut)
            out += [make_request(r, cut, audio, template, sampling, template.id, None, True)
                    for r in plan.rows(cut.id)]
    return out


def run_ray(cfg, requests: list) -> dict:
    from annotate.engines.vllm_engine import VLLMEngine

    t0 = time.perf_counter()
    engine = VLLMEngine(cfg)
    try:
        list(engine.generate(requests[:1]))
        start = time.perf_counter() - t0
        t1 = time.perf_counter()
        results = list(engine.generate(requests))
        wall = time.perf_counter() - t1
        kwargs = engine.engine_kwargs(engine.device or "cpu")
    finally:
        engine.close()
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise SystemExit(f"ray path: {len(failed)} failed rows, e.g. {failed[0]}")
    return {"start_s": start, "wall_s": wall, "texts": [r.text for r in results], "engine_kwargs": kwargs}


def run_direct(model: str, engine_kwargs: dict, requests: list) -> dict:
    from vllm import LLM, SamplingParams

    from annotate.engines.vllm_engine import request_messages, sampling_params

    def params(req):
        p = sampling_params(req)
        p.pop("structured_outputs")
        return SamplingParams(**p)

    messages = [request_messages(r) for r in requests]
    t0 = time.perf_counter()
    llm = LLM(model=model, **engine_kwargs)
    llm.chat(messages[:1], [params(requests[0])], use_tqdm=False)
    start = time.perf_counter() - t0
    t1 = time.perf_counter()
    outs = llm.chat(messages, [params(r) for r in requests], use_tqdm=False)
    wall = time.perf_counter() - t1
    del llm
    return {"start_s": start, "wall_s": wall, "texts": [o.outputs[0].text for o in outs]}


def main(argv: list[str] | None = None) -> dict:
    from annotate.testing import build_tiny_qwen2_audio, cpu_engine_config, tiny_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model-dir", type=Path, default=tiny_cache_dir() / "tiny-qwen2-audio")
    args = ap.parse_args(argv)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    from clsp.synth.corpus import SynthConfig, synthesize_corpus

    model = str(build_tiny_qwen2_audio(args.model_dir))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        synthesize_corpus(SynthConfig(num_clips=args.clips, seed=11, workers=1), corpus, progress=False)
        requests = build_requests(corpus, args.views, args.max_tokens, model)
    cfg = cpu_engine_config(model, batch_size=args.batch_size)
    ray = run_ray(cfg, requests)
    direct = run_direct(model, ray.pop("engine_kwargs"), requests)
    n = len(requests)
    same = sum(a == b for a, b in zip(ray["texts"], direct["texts"]))
    print(f"vllm engine on CPU: {n} rows ({args.clips} clips x 2 kinds x {args.views} seeds), "
          f"max_tokens {args.max_tokens}, batch {args.batch_size}")
    print(f"{'path':8} {'start s':>8} {'rows s':>8} {'rows/s':>8}")
    for name, r in (("ray", ray), ("direct", direct)):
        print(f"{name:8} {r['start_s']:8.1f} {r['wall_s']:8.2f} {n / r['wall_s']:8.2f}")
    ratio = ray["wall_s"] / direct["wall_s"]
    extra = ray["wall_s"] - direct["wall_s"]
    print(f"Ray Data / direct wall time on the same rows: {ratio:.2f}x (overhead {extra:+.2f} s, "
          f"{1000 * extra / n:+.0f} ms/row); start {ray['start_s'] / direct['start_s']:.2f}x")
    print(f"identical texts: {same}/{n}")
    summary = {"rows": n, "ray": {k: ray[k] for k in ("start_s", "wall_s")},
               "direct": {k: direct[k] for k in ("start_s", "wall_s")}, "ratio": ratio, "identical_texts": same}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
