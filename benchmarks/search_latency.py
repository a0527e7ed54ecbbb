"""Exact top-k search over unit vectors: chunked torch matmul + topk vs numpy brute force vs faiss IndexFlatIP.

Random unit vectors (D = 512, float32) stand in for an index of clip embeddings; 1,000 queries. Every
method runs in its own process (so its peak memory is its own) on the same embedding file, and its
top-k ids are compared with numpy brute force (agreement = share of identical ids).

    .venv/bin/python benchmarks/search_latency.py            # 100k and 1M items
    .venv/bin/python benchmarks/search_latency.py --sizes 100000 --repeats 3

Figures are from one run on one machine: compare the ratios printed together, not across machines.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("numpy brute force", "torch chunked", "faiss IndexFlatIP", "torch chunked cuda")


def available(method: str) -> bool:
    if method == "faiss IndexFlatIP":
        import importlib.util

        return importlib.util.find_spec("faiss") is not None
    if method == "torch chunked cuda":
        import torch

        return torch.cuda.is_available()
    return True


def random_unit(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def reset_peak_rss() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def rss_mib(field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident set size of this process, MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _numpy_brute(emb: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ emb.T  # (Q, N): the whole score matrix at once
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _worker(method: str, path: str, queries: np.ndarray, k: int, batch: int, repeats: int, threads: int,
            conn) -> None:
    import torch

    torch.set_num_threads(threads)
    emb = np.load(path)  # fully in memory: the index as a search process holds it
    base = rss_mib("VmRSS")
    reset_peak_rss()  # "extra" = peak during build + search above the loaded embeddings
    build = 0.0
    if method == "torch chunked":
        from eval.topk import topk_inner_product

        store = torch.from_numpy(emb)
        run = lambda q: topk_inner_product(store, torch.from_numpy(q), k)[1].numpy()  # noqa: E731
    elif method == "torch chunked cuda":
        from eval.topk import topk_inner_product

        t0 = time.perf_counter()
        store = torch.from_numpy(emb).cuda()  # the index held on the GPU, as faiss holds its copy
        torch.cuda.synchronize()
        build = time.perf_counter() - t0
        run = lambda q: topk_inner_product(store, torch.from_numpy(q).cuda(), k)[1].cpu().numpy()  # noqa: E731
    elif method == "faiss IndexFlatIP":
        import faiss

        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        index = faiss.IndexFlatIP(emb.shape[1])
        index.add(emb)
        build = time.perf_counter() - t0
        run = lambda q: index.search(q, k)[1]  # noqa: E731
    else:
        run = lambda q: _numpy_brute(emb, q, k)  # noqa: E731
    batches = [queries[i:i + batch] for i in range(0, len(queries), batch)]
    ids = np.concatenate([run(b) for b in batches])  # warm-up, and the ids to compare
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            run(b)
        times.append(time.perf_counter() - t0)
    one = []
    for q in queries[:20]:  # one query alone: the latency of an interactive `clsp search query`
        t0 = time.perf_counter()
        run(q[None])
        one.append(time.perf_counter() - t0)
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    conn.send({"seconds": float(np.median(times)), "single_ms": 1000 * float(np.median(one)), "ids": ids,
               "extra_mib": rss_mib() - base, "gpu_mib": gpu, "build_s": build})
    conn.close()


def measure(method: str, path: str, queries: np.ndarray, k: int, batch: int, repeats: int, threads: int) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(method, path, queries, k, batch, repeats, threads, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--batch", type=int, default=1000, help="queries per search call")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # BLAS threads of the workers
        os.environ[var] = str(args.threads)
    queries = random_unit(args.queries, args.dim, seed=1)
    print(f"{args.queries} queries, D={args.dim}, top-{args.top_k}, batches of {args.batch}, "
          f"{args.threads} threads, median of {args.repeats}; methods: "
          + ", ".join(m for m in METHODS if available(m)))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = str(Path(tmp) / f"emb_{n}.npy")
            np.save(path, random_unit(n, args.dim, seed=0))
            print(f"\n{n:,} items ({n * args.dim * 4 / 2**20:,.0f} MiB of float32 embeddings)")
            print(f"  {'method':20s} {str(args.queries) + ' queries s':>12s} {'ms/query':>9s} {'1 query ms':>11s} "
                  f"{'extra MiB':>10s} {'vs brute':>9s} {'same ids':>9s}")
            results = {m: measure(m, path, queries, args.top_k, args.batch, args.repeats, args.threads)
                       for m in METHODS if available(m)}
            ref = results["numpy brute force"]
            for m, r in results.items():
                same = float((np.sort(r["ids"], axis=1) == np.sort(ref["ids"], axis=1)).mean())
                build = f"  (index build {r['build_s']:.2f} s)" if r["build_s"] else ""
                build += f"  (GPU {r['gpu_mib']:.0f} MiB)" if r["gpu_mib"] else ""
                print(f"  {m:20s} {r['seconds']:12.2f} {1000 * r['seconds'] / args.queries:9.2f} "
                      f"{r['single_ms']:11.1f} {r['extra_mib']:10.0f} {ref['seconds'] / r['seconds']:8.2f}x "
                      f"{same:9.4f}{build}")
            Path(path).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
