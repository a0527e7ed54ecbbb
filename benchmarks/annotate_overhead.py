"""Overhead of the `clsp annotate` pipeline over the bare engine, on the same requests, measured in one run.

Bare: every request built beforehand (audio loaded), then only ``engine.generate`` is timed (once before
and once after the pipeline run; the faster one counts). Every timed run gets a fresh, warmed-up engine,
so no engine cache (e.g. the acoustic engine's measurements) carries over from one run to the next.
Pipeline: ``annotate()`` end to end (manifest reading, audio checks, request building, shard writes with
fsync, the merged manifest, stats). Overhead = pipeline wall - bare wall; the CPU columns are this
process's CPU seconds (less sensitive than wall time to other load on a shared machine).

Engines: ``http`` = the openai engine against the tests' local fault-injection server
(``annotate.testing.fault_server``: it answers at once, or after ``--latency-ms``, like a remote endpoint),
``transformers`` = the tiny random Qwen2-Audio checkpoint, ``acoustic`` when that engine is installed.

    .venv/bin/python benchmarks/annotate_overhead.py [--clips 100] [--views 2] [--engine http|transformers|acoustic]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from annotate.config import AnnotateConfig
from annotate.engines.registry import build_engine
from annotate.pipeline import annotate, prompt_for
from annotate.prompts import load_prompt
from annotate.rows import RowPlan, make_request
from clsp.audio_checks import load_checked_audio
from clsp.config import load_config
from clsp.data.manifest import read_cuts
from clsp.synth.corpus import SynthConfig, synthesize_corpus


def bare_requests(cfg: AnnotateConfig, engine, manifests: list[Path]) -> list:
    template = load_prompt(cfg.prompt)
    prompt_id, with_messages = prompt_for(engine, template, cfg.kinds)
    plan = RowPlan(engine.name, engine.model, prompt_id, tuple(cfg.kinds), tuple(cfg.seeds))
    out = []
    for m in manifests:
        for cut in read_cuts(m):
            audio = load_checked_audio(cut)
            out += [make_request(r, cut, audio, template, cfg.sampling, prompt_id, None, with_messages)
                    for r in plan.rows(cut.id)]
    return out


def measure(cfg: AnnotateConfig, corpus: Path, tmp: Path, label: str) -> None:
    """Each timed run gets a fresh engine (no cache shared between runs), warmed up on 2 other requests."""
    manifests = sorted(corpus.glob("cuts_*.jsonl.gz"))
    engine = build_engine(cfg.engine, cfg.engine_settings)
    requests = bare_requests(cfg, engine, manifests)
    warm = [dataclasses.replace(r, request_id=f"warm-{i}", seed=10_000 + i) for i, r in enumerate(requests[-2:])]

    def timed(run) -> tuple[float, float, object]:
        engine = build_engine(cfg.engine, cfg.engine_settings)
        list(engine.generate(warm))  # first-call costs, connections
        t0, c0 = time.perf_counter(), time.process_time()
        out = run(engine)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        engine.close()
        return wall, cpu, out

    def bare_run(engine):
        results = list(engine.generate(requests))
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]

    first = timed(bare_run)[:2]
    full, full_cpu, stats = timed(lambda e: annotate(cfg, [corpus], tmp / f"out-{label}", engine=e, progress=False))
    bare, bare_cpu = min(first, timed(bare_run)[:2])  # bare before and after the pipeline: the faster one
    n = len(requests)
    assert stats["captions_written"] == n
    print(f"{label:26s} {n:6d} {bare:9.2f} {full:11.2f} {full - bare:10.2f} {(full - bare) / n * 1000:11.2f} "
          f"{full / bare:7.2f}x {bare_cpu:9.2f} {full_cpu:9.2f} {(full_cpu - bare_cpu) / n * 1000:9.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--engine", choices=["http", "transformers", "acoustic"], default="http")
    ap.add_argument("--latency-ms", type=float, nargs="*", default=[0.0, 50.0])
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        corpus = tmp / "corpus"
        synthesize_corpus(SynthConfig(num_clips=args.clips, seed=5, workers=2), corpus, progress=False)
        hours = sum(c.duration for m in corpus.glob("cuts_*.jsonl.gz") for c in read_cuts(m)) / 3600
        print(f"{args.clips} clips ({hours * 60:.1f} min), views {args.views}, kinds global+fine")
        print(f"{'engine':26s} {'rows':>6s} {'bare s':>9s} {'pipeline s':>11s} {'overhead s':>10s} "
              f"{'ms per row':>11s} {'ratio':>8s} {'bare CPU':>9s} {'pipe CPU':>9s} {'CPU ms/row':>9s}")
        base = [f"views={args.views}", "kinds=[global,fine]"]
        if args.engine == "http":
            for latency in args.latency_ms:
                # the tests' fault-injection server, here always answering ok, in its own process
                server = subprocess.Popen([sys.executable, "-m", "annotate.testing.fault_server", "--latency-ms",
                                           str(latency)], stdout=subprocess.PIPE, text=True)
                try:
                    base_url = server.stdout.readline().strip()
                    cfg = load_config(AnnotateConfig, None, [*base, "engine=openai", "engine_config.openai.model=m",
                                                             f"engine_config.openai.base_url={base_url}",
                                                             f"engine_config.openai.max_concurrency={args.concurrency}"])
                    measure(cfg, corpus, tmp, f"http, latency {latency:g} ms")
                finally:
                    server.terminate()
                    server.wait()
        else:
            overrides = [*base, f"engine={args.engine}"]
            if args.engine == "transformers":
                from annotate.testing import build_tiny_qwen2_audio, tiny_cache_dir

                model = build_tiny_qwen2_audio(tiny_cache_dir() / "tiny-qwen2-audio")
                overrides += [f"engine_config.transformers.model={model}", "engine_config.transformers.batch_size=8",
                              "sampling.max_tokens=16"]
            measure(load_config(AnnotateConfig, None, overrides), corpus, tmp, args.engine)


if __name__ == "__main__":
    main()
