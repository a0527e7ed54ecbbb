"""The vllm engine on CPU: start time, rows/s, and Ray Data's overhead over vLLM called directly.

Both paths run the same requests (the tiny random Qwen2-Audio checkpoint, synthetic clips, the
``clsp-style`` prompt, one row per (clip, kind, seed)) with the same vLLM engine arguments, in one run:

- Ray: ``VLLMEngine`` (Ray Data + ``ray.data.llm``); start = from creating the engine to the first result
  of a one-row call (Ray start, stage actors, vLLM start); then all rows in one ``generate`` call;
- direct: ``vllm.LLM(...)`` in this process; start = construction plus a one-row ``chat``; then all rows
  in one ``llm.chat`` call (per-row seeded ``SamplingParams``).

Printed: our own per-row work (ms); the Ray path's start split into ray.init, building the pipeline and the
first row (stage actors start, vLLM starts inside its actor, the row runs); both start times, wall times and
rows/s, their ratios, Ray Data's overhead in ms per row (wall difference / rows); the CPU seconds each path
spends while serving the rows, by process group (vLLM's engine-core and model-worker processes, Ray Data's
stage actors, Ray's other workers and daemons, this driver); and how many texts agree (same model, seeds
and prompts: they should all agree). Wall figures on a shared 2-core machine move with other load; the CPU
seconds and the ratios measured in one run move less. ``--ray-only`` skips ``vllm.LLM`` (for tuning runs).

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


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) so far of this process and every process under it, by pid, with the
    process's group: "vllm" (vLLM's engine-core and model-worker processes), "ray stages" (Ray Data's
    stage actors, vLLM's host actor included), "ray workers" (Ray Data's helper actors, pooled task workers),
    "ray system" (raylet, GCS, ...), "driver" (here).
    With a local Ray (``address="local"``) every Ray process is a child of this one."""
    import psutil

    me = psutil.Process()
    out = {}
    for p in [me, *me.children(recursive=True)]:
        try:
            name = " ".join(p.cmdline()[:1]) or p.name()
            t = p.cpu_times()
        except psutil.Error:
            continue
        if p.pid == me.pid:
            group = "driver"
        elif "VLLM" in name or "EngineCore" in name:
            group = "vllm"
        elif name.startswith("ray::MapWorker") or name.startswith("ray::Read"):
            group = "ray stages"
        elif name.startswith("ray::"):
            group = "ray workers"  # Ray Data's helper actors, pooled task workers
        else:
            group = "ray system"
        out[p.pid] = (group, t.user + t.system + t.children_user + t.children_system)
    return out


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds spent between two :func:`cpu_seconds` snapshots, by group (processes alive at the end)."""
    used: dict[str, float] = {}
    for pid, (group, t) in after.items():
        used[group] = used.get(group, 0.0) + t - before.get(pid, (group, 0.0))[1]
    return used


def per_row_work(requests: list) -> dict[str, float]:
    """Milliseconds per row of the engine's own (not Ray's, not vLLM's) work: the driver builds the messages
    (audio as base64 WAV) and the JSON row; the first Ray stage parses it back."""
    from annotate.engines.vllm_engine import _decode, _encode, request_messages, sampling_params

    t0 = time.perf_counter()
    rows = [_encode(i, request_messages(r), sampling_params(r)) for i, r in enumerate(requests)]
    t1 = time.perf_counter()
    for row in rows:
        _decode(row)
    t2 = time.perf_counter()
    n = len(requests)
    return {"messages + JSON (driver)": 1000 * (t1 - t0) / n, "JSON parse (Ray stage)": 1000 * (t2 - t1) / n}


def run_ray(cfg, requests: list) -> dict:
    from annotate.engines.vllm_engine import VLLMEngine

    t0 = time.perf_counter()
    engine = VLLMEngine(cfg)
    try:
        list(engine.generate(requests[:1]))
        start = time.perf_counter() - t0
        cpu0, t1 = cpu_seconds(), time.perf_counter()
        results = list(engine.generate(requests))
        wall = time.perf_counter() - t1
        cpu = cpu_used(cpu0, cpu_seconds())
        kwargs = engine.engine_kwargs(engine.device or "cpu")
        parts = dict(engine.start_seconds)
    finally:
        engine.close()
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise SystemExit(f"ray path: {len(failed)} failed rows, e.g. {failed[0]}")
    parts["first row"] = start - sum(parts.values())  # stage actors start, vLLM starts, the first row runs
    llm_s = sum(r.seconds or 0.0 for r in results)
    return {"start_s": start, "wall_s": wall, "texts": [r.text for r in results], "engine_kwargs": kwargs,
            "start_parts": parts, "llm_s": llm_s, "cpu": cpu}


def run_direct(model: str, engine_kwargs: dict, requests: list) -> dict:
    from vllm import LLM, SamplingParams

    from annotate.engines.vllm_engine import request_messages, sampling_params

    def params(req):
        p = sampling_params(req)
        p.pop("structured_outputs")
        return SamplingParams(**p)

    t0 = time.perf_counter()
    llm = LLM(model=model, **engine_kwargs)
    llm.chat([request_messages(requests[0])], [params(requests[0])], use_tqdm=False)
    start = time.perf_counter() - t0
    cpu0, t1 = cpu_seconds(), time.perf_counter()  # building the messages counts, as on the Ray path
    outs = llm.chat([request_messages(r) for r in requests], [params(r) for r in requests], use_tqdm=False)
    wall = time.perf_counter() - t1
    cpu = cpu_used(cpu0, cpu_seconds())
    del llm
    return {"start_s": start, "wall_s": wall, "texts": [o.outputs[0].text for o in outs], "cpu": cpu}


def main(argv: list[str] | None = None) -> dict:
    from annotate.testing import build_tiny_qwen2_audio, cpu_engine_config, tiny_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model-dir", type=Path, default=tiny_cache_dir() / "tiny-qwen2-audio")
    ap.add_argument("--ray-only", action="store_true", help="skip vllm.LLM (quick runs while tuning)")
    args = ap.parse_args(argv)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    from clsp.synth.corpus import SynthConfig, synthesize_corpus

    model = str(build_tiny_qwen2_audio(args.model_dir))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        synthesize_corpus(SynthConfig(num_clips=args.clips, seed=11, workers=1), corpus, progress=False)
        requests = build_requests(corpus, args.views, args.max_tokens, model)
    row_ms = per_row_work(requests)
    cfg = cpu_engine_config(model, batch_size=args.batch_size)
    ray = run_ray(cfg, requests)
    kwargs = ray.pop("engine_kwargs")
    n = len(requests)
    print(f"vllm engine on CPU: {n} rows ({args.clips} clips x 2 kinds x {args.views} seeds), "
          f"max_tokens {args.max_tokens}, batch {args.batch_size}; load average before: {LOAD_BEFORE}")
    print("our per-row work (ms/row, one core): " + ", ".join(f"{k} {v:.1f}" for k, v in row_ms.items()))
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in ray["start_parts"].items())
    print(f"ray start {ray['start_s']:.1f} s = {parts}")
    print(f"ray rows {ray['wall_s']:.2f} s ({n / ray['wall_s']:.2f} rows/s); a row's time in vLLM (submit to "
          f"finish) {ray['llm_s'] / n:.2f} s on average")
    print("CPU seconds while serving the rows, ray: " + cpu_line(ray["cpu"], n))
    summary = {"rows": n, "row_ms": row_ms, "ray": {k: ray[k] for k in ("start_s", "wall_s", "start_parts", "cpu")}}
    if args.ray_only:
        print(json.dumps(summary))
        return summary
    direct = run_direct(model, kwargs, requests)
    same = sum(a == b for a, b in zip(ray["texts"], direct["texts"]))
    print(f"{'path':8} {'start s':>8} {'rows s':>8} {'rows/s':>8}")
    for name, r in (("ray", ray), ("direct", direct)):
        print(f"{name:8} {r['start_s']:8.1f} {r['wall_s']:8.2f} {n / r['wall_s']:8.2f}")
    speed = direct["wall_s"] / ray["wall_s"]
    extra = ray["wall_s"] - direct["wall_s"]
    start_ratio = ray["start_s"] / direct["start_s"]
    print(f"Ray Data / direct: rows/s {speed:.2f}x (goal >= 0.8x), start {start_ratio:.2f}x (goal <= 1.3x); "
          f"Ray Data's overhead {extra:+.2f} s on {n} rows = {1000 * extra / n:+.0f} ms/row")
    print("CPU seconds while serving the rows, direct: " + cpu_line(direct["cpu"], n))
    ray_cpu, direct_cpu = sum(ray["cpu"].values()), sum(direct["cpu"].values())
    print(f"CPU per row, Ray Data / direct: {ray_cpu / direct_cpu:.1f}x in all, "
          f"{ray['cpu'].get('vllm', 0) / max(direct['cpu'].get('vllm', 0), 1e-9):.1f}x in vLLM's own processes")
    print(f"identical texts: {same}/{n}; load average after: {_load()}")
    summary.update({"direct": {k: direct[k] for k in ("start_s", "wall_s", "cpu")}, "rows_per_s_ratio": speed,
                    "start_ratio": start_ratio, "overhead_ms_per_row": 1000 * extra / n, "identical_texts": same})
    print(json.dumps(summary))
    return summary


def cpu_line(cpu: dict[str, float], n: int) -> str:
    total = sum(cpu.values())
    parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v > 0)
    return f"{total:.2f} s ({1000 * total / n:.0f} ms/row): {parts}"


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


LOAD_BEFORE = _load()


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
