"""Exact nearest-neighbour search over stored clip embeddings (cosine = inner product of unit vectors).

An index is a folder::

    INDEX/index.json        # header: format, version, count, dim, dtype, model, manifest, complete
    INDEX/cuts.jsonl.gz     # the indexed cuts, a lhotse manifest in row order (row i = embedding i)
    INDEX/embeddings.npy    # (count, dim) float32, C-contiguous .npy (memory-mapped when searched)
    INDEX/rows.json         # {"ids": [...], "audio": [...]} per row, so opening never parses the manifest
    INDEX/rejects.jsonl     # cuts left out, with why (unreadable audio), when any

Building writes ``cuts.partial.jsonl`` and ``embeddings.partial.npy`` as it goes (flushed every batch):
an interrupted build started again with the same model and manifest continues where it stopped.
Search is exact: every stored vector is scored (:func:`eval.topk.topk_inner_product`; see
``benchmarks/search_latency.py`` for why this method).
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clsp.data.manifest import read_cuts
from clsp.data.rejects import RejectLog, read_complete_lines
from clsp.errors import ClspError, one_line
from clsp.outputs import OutputLock, atomic_path, atomic_write_text, output_dir
from eval.embed import embed_audio, progress_bar
from eval.topk import topk_inner_product

FORMAT = "clsp-search-index"
VERSION = 1
HEADER, CUTS, EMBEDDINGS, ROWS, REJECTS = "index.json", "cuts.jsonl.gz", "embeddings.npy", "rows.json", "rejects.jsonl"
PARTIAL_CUTS, PARTIAL_EMBEDDINGS = "cuts.partial.jsonl", "embeddings.partial.npy"


def _write_header(index_dir: Path, header: dict[str, Any]) -> None:
    atomic_write_text(index_dir / HEADER, json.dumps(header, indent=2) + "\n")


def _read_partial_cuts(path: Path) -> list[dict[str, Any]]:
    """Complete lines of the partial manifest (a line cut short by a crash is dropped, the file repaired)."""
    good = read_complete_lines(path)
    if path.is_file() and len(good) != len(path.read_text().splitlines()):
        path.write_text("".join(json.dumps(d) + "\n" for d in good))
    return good


def build_index(model, manifest: str | Path, index_dir: str | Path, model_dir: str | Path | None = None,
                batch_size: int = 16, progress: bool | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Embed every cut of ``manifest`` and store the index in ``index_dir``; returns the header.

    Cuts whose audio cannot be read are left out and listed in ``rejects.jsonl``. A finished index is
    kept unless ``overwrite``; an unfinished one for the same manifest and model is continued (also one
    killed while it was being finished: see :func:`_finish`). One build at a time per folder.
    """
    out = output_dir(index_dir, "--out")
    with OutputLock(out, "search build"):
        return _build(model, Path(manifest).resolve(), out, model_dir, batch_size, progress, overwrite)


def _build(model, manifest: Path, out: Path, model_dir, batch_size: int, progress: bool | None,
           overwrite: bool) -> dict[str, Any]:
    header_path = out / HEADER
    count = sum(1 for _ in read_cuts(manifest))
    if count == 0:
        raise ClspError(f"{manifest}: no cuts to index")
    header = {"format": FORMAT, "version": VERSION, "count": 0, "dim": int(model.config.joint_dim),
              "dtype": "float32", "metric": "inner product of unit vectors (cosine)",
              "model": str(Path(model_dir).resolve()) if model_dir else None, "manifest": str(manifest),
              "manifest_cuts": count, "complete": False}
    if header_path.is_file() and not overwrite:
        old = _read_header(out)
        same = all(old.get(k) == header[k] for k in ("model", "manifest", "manifest_cuts", "dim"))
        if old.get("complete"):
            if same:
                _remove(out, PARTIAL_CUTS, PARTIAL_EMBEDDINGS)  # left by a build killed after it was complete
                return {**old, "reused": True}
            raise ClspError(f"{out}: holds an index of another manifest or model (use --overwrite to replace it)")
        overwrite = not same
    if overwrite:
        _remove(out, HEADER, CUTS, EMBEDDINGS, ROWS, REJECTS, PARTIAL_CUTS, PARTIAL_EMBEDDINGS)
    _write_header(out, header)
    emb_path = out / PARTIAL_EMBEDDINGS
    if not emb_path.is_file() and (out / EMBEDDINGS).is_file() and (out / PARTIAL_CUTS).is_file():
        os.replace(out / EMBEDDINGS, emb_path)  # killed inside _finish after the rename: undo it
    done_cuts = _read_partial_cuts(out / PARTIAL_CUTS)
    if done_cuts and not emb_path.is_file():  # rows without their vectors: never index zeros, start again
        _remove(out, PARTIAL_CUTS, REJECTS)
        done_cuts = []
    rejects = read_complete_lines(out / REJECTS)
    done = {d["id"] for d in done_cuts} | {r["cut_id"] for r in rejects}
    if emb_path.is_file() and done_cuts:
        emb = np.load(emb_path, mmap_mode="r+")
    else:
        emb = np.lib.format.open_memmap(emb_path, mode="w+", dtype=np.float32, shape=(count, header["dim"]))
    row = len(done_cuts)
    started = time.time()
    with open(out / PARTIAL_CUTS, "a") as cut_file, RejectLog(out / REJECTS, mode="a") as reject_log, \
            progress_bar(count, progress, "indexing") as bar:
        bar.update(len(done))
        batch: list = []
        for cut in read_cuts(manifest):
            if cut.id in done:
                continue
            batch.append(cut)
            if len(batch) == batch_size:
                row = _index_batch(model, batch, emb, row, cut_file, reject_log, manifest.name, batch_size)
                bar.update(len(batch))
                batch = []
        if batch:
            row = _index_batch(model, batch, emb, row, cut_file, reject_log, manifest.name, batch_size)
            bar.update(len(batch))
    full = emb.shape[0]
    del emb
    return _finish(out, header, full, row, time.time() - started)


def _index_batch(model, batch: list, emb: np.ndarray, row: int, cut_file, reject_log: RejectLog,
                 manifest_name: str, batch_size: int) -> int:
    rejected: list[tuple[int, str]] = []
    vectors = embed_audio(model, batch, batch_size=batch_size, progress=False, rejects=rejected)
    bad = {i for i, _ in rejected}
    emb[row:row + len(vectors)] = vectors.numpy()
    emb.flush()  # embeddings first: a manifest line is only written for a row already on disk
    for i, reason in rejected:
        reject_log.add(batch[i].id, "audio_error", reason, manifest=manifest_name)
    for i, cut in enumerate(batch):
        if i not in bad:
            cut_file.write(json.dumps(cut.to_dict(), ensure_ascii=False) + "\n")
    cut_file.flush()
    return row + len(vectors)


def _finish(out: Path, header: dict[str, Any], full: int, rows: int, seconds: float) -> dict[str, Any]:
    """Turn the partial files into the index. Every step leaves a state the next build continues from:
    the final files are written (each atomically) while the partial ones stay, the header says complete
    only once all exist, and only then are the partial files removed. The one rename of the partial
    embeddings (when no cut was rejected) is undone by the next build if it is killed before the header."""
    if rows == 0:
        raise ClspError(f"{out}: no cut could be embedded (see {out / REJECTS})")
    ids, audio = [], []
    with atomic_path(out / CUTS) as tmp:
        with open(out / PARTIAL_CUTS) as src, gzip.open(tmp, "wt") as dst:  # stream: no cut objects in memory
            for line in src:
                cut = json.loads(line)
                ids.append(cut["id"])
                audio.append(((cut.get("recording") or {}).get("sources") or [{}])[0].get("source"))
                dst.write(line)
    atomic_write_text(out / ROWS, json.dumps({"ids": ids, "audio": audio}) + "\n")
    if rows == full:
        os.replace(out / PARTIAL_EMBEDDINGS, out / EMBEDDINGS)
    else:  # some cuts were rejected: keep only the rows written
        with atomic_path(out / EMBEDDINGS) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(np.load(out / PARTIAL_EMBEDDINGS, mmap_mode="r")[:rows]))
    header = {**header, "count": rows, "complete": True, "rejected": header["manifest_cuts"] - rows,
              "build_seconds": round(seconds, 2)}
    _write_header(out, header)
    _remove(out, PARTIAL_CUTS, PARTIAL_EMBEDDINGS)
    if (out / REJECTS).is_file() and not (out / REJECTS).read_text():
        (out / REJECTS).unlink()
    return header


def _remove(out: Path, *names: str) -> None:
    for name in names:
        (out / name).unlink(missing_ok=True)


def _read_header(index_dir: Path) -> dict[str, Any]:
    try:
        header = json.loads((index_dir / HEADER).read_text())
    except (OSError, ValueError) as e:
        raise ClspError(f"{index_dir / HEADER}: the index header is damaged ({type(e).__name__}: {e}); "
                        "rebuild the index with `clsp search build --overwrite`") from None
    if not isinstance(header, dict):
        raise ClspError(f"{index_dir / HEADER}: the index header is damaged (not a JSON object)")
    return header


@dataclass
class SearchIndex:
    """An opened index: ``ids[i]`` is the cut id of row ``i`` of ``embeddings`` (N, D)."""

    path: Path
    header: dict[str, Any]
    ids: list[str]
    audio: list[str | None]
    embeddings: torch.Tensor

    @classmethod
    def open(cls, index_dir: str | Path, device: str = "cpu") -> SearchIndex:
        """Open a finished index; ``device="cuda"`` copies the embeddings to the GPU once (fast queries)."""
        p = Path(index_dir)
        if not (p / HEADER).is_file():
            raise ClspError(f"{p}: not a search index (no {HEADER}; make one with `clsp search build`)")
        header = _read_header(p)
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise ClspError(f"{p / HEADER}: not a {FORMAT} v{VERSION} header")
        if not header.get("complete"):
            raise ClspError(f"{p}: the index build did not finish (run `clsp search build` again to continue)")
        try:
            matrix = np.load(p / EMBEDDINGS, mmap_mode="c")  # copy-on-write map: pages load on first use
            rows = json.loads((p / ROWS).read_text())
            ids, audio = rows["ids"], rows["audio"]
            shape_ok = matrix.shape == (header["count"], header["dim"]) and matrix.dtype == np.float32
        except (OSError, ValueError, EOFError, KeyError, TypeError) as e:
            raise ClspError(f"{p}: the index is damaged ({type(e).__name__}: {one_line(e, 200)}); rebuild it "
                            "with `clsp search build --overwrite`") from None
        if not shape_ok:
            raise ClspError(f"{p / EMBEDDINGS}: shape {matrix.shape} ({matrix.dtype}) does not match the header "
                            f"({header['count']}, {header['dim']}) float32; rebuild it with `clsp search build --overwrite`")
        if not isinstance(ids, list) or len(ids) != header["count"] or len(audio) != len(ids):
            raise ClspError(f"{p / ROWS}: does not list one row per embedding ({header['count']}); rebuild it "
                            "with `clsp search build --overwrite`")
        embeddings = torch.from_numpy(matrix)
        return cls(p, header, ids, audio, embeddings if device == "cpu" else embeddings.to(device))

    def cuts(self):
        """The indexed cuts (a lazy lhotse CutSet, row order)."""
        return read_cuts(self.path / CUTS)

    def search(self, queries: torch.Tensor, top_k: int = 10) -> list[list[dict[str, Any]]]:
        """(Q, D) unit query vectors → per query the ``top_k`` best rows: rank, cut id, score, audio."""
        if queries.shape[-1] != self.embeddings.shape[1]:
            raise ClspError(f"query vectors have {queries.shape[-1]} dims, the index {self.embeddings.shape[1]}")
        scores, rows = topk_inner_product(self.embeddings, queries.to(self.embeddings.device), top_k)
        scores, rows = scores.cpu(), rows.cpu()
        return [[{"rank": r + 1, "cut_id": self.ids[i], "score": float(s), "audio": self.audio[i]}
                 for r, (s, i) in enumerate(zip(srow.tolist(), irow.tolist()))]
                for srow, irow in zip(scores, rows)]


def query_index(index: SearchIndex, model, texts: Sequence[str] = (), audio: Sequence[Any] = (),
                top_k: int = 10, batch_size: int = 16) -> list[dict[str, Any]]:
    """Text queries (speech↔text search) and/or audio queries (speech↔speech) → results per query."""
    out = []
    if texts:
        for text, hits in zip(texts, index.search(model.encode_text(list(texts)), top_k)):
            out.append({"query": text, "kind": "text", "results": hits})
    if audio:
        vectors = embed_audio(model, audio, batch_size=batch_size, progress=None)
        for item, hits in zip(audio, index.search(vectors, top_k)):
            out.append({"query": str(item), "kind": "audio", "results": hits})
    return out
