"""``clsp annotate``: caption every (cut, kind, seed) of lhotse manifests with an engine, resumably.

For each input manifest, cuts are read lazily; a cut whose rows are all written already (in the shards
of earlier runs, or as captions in the input) is skipped without touching its audio. The others are
loaded and checked in a small thread pool a few cuts ahead of the engine (bad audio becomes a line in
``rejects.jsonl`` and the run goes on); recordings over ``max_duration_s`` are split with Silero VAD.
Requests are a generator handed to ``engine.generate``; results are written as they come: a cut (or
VAD piece) goes to this run's shard as soon as all its requests are back. At the end the output
manifest (same file name as the input) is rebuilt from all shards, and ``stats.json`` is written.
See :mod:`annotate.shards` for the resume and crash guarantees.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lhotse.cut import Cut
from tqdm import tqdm

from annotate.config import AnnotateConfig
from annotate.engines.base import Engine, GenerationRequest, GenerationResult, fail_fast
from annotate.engines.configs import public_engine_config
from annotate.prompts import PromptTemplate, load_prompt
from annotate.rows import Row, RowPlan, clean_output, make_request
from annotate.shards import ShardIndex, ShardWriter, manifest_stem, new_run_id, write_manifest_stream
from annotate.vad import SileroSplitter
from clsp.audio_checks import AudioReject, check_header, load_checked_audio
from clsp.config import to_dict
from clsp.data.captions import Caption, add_captions, get_captions, with_captions
from clsp.data.manifest import count_cuts, id_hash, read_cuts, resolve_inputs
from clsp.data.rejects import REJECTS_NAME, RejectLog
from clsp.errors import ClspError
from clsp.outputs import OutputLock, atomic_write_text

log = logging.getLogger(__name__)


def prompt_for(engine: Engine, template: PromptTemplate, kinds: list[str]) -> tuple[str, bool]:
    """(prompt id, whether requests carry messages). Engines that take no prompt name their own id."""
    fixed = getattr(engine, "prompt_id", None) or ("acoustic@1" if engine.name == "acoustic" else None)
    if fixed:
        return fixed, False
    template.check_kinds(kinds)
    return template.id, True


def first_time(seen: set[int], cut_id: str) -> bool:
    """True the first time ``cut_id`` is passed with this ``seen`` set (which stores 64-bit hashes)."""
    h = id_hash(cut_id)
    if h in seen:
        return False
    seen.add(h)
    return True


@dataclass
class RunStats:
    rows_planned: int = 0
    rows_skipped: int = 0
    rows_requested: int = 0
    captions_written: int = 0
    failures: int = 0
    clips_sent: int = 0
    audio_seconds_sent: float = 0.0
    engine_seconds: float = 0.0
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Unit:
    cut: Cut  # the cut or VAD piece as it goes to the shard (captions: this run's only)
    remaining: int
    captions: list[Caption] = field(default_factory=list)


@dataclass
class _Job:
    cut: Cut
    rows: list[Row] | None  # None: a long recording to split first


class ManifestRun:
    """One input manifest through the engine: plan rows, load audio, stream requests, write results, merge.

    ``requests(cuts)`` is the lazy request generator (audio of at most ``cfg.prefetch`` cuts ahead),
    ``on_result`` records one result, ``run(engine)`` does both, ``merged()`` yields the output cuts.
    """

    def __init__(self, cfg: AnnotateConfig, manifest: Path, out: Path, plan: RowPlan, template: PromptTemplate,
                 with_messages: bool, run_id: str, rejects: RejectLog, stats: RunStats, splitter: SileroSplitter):
        self.cfg, self.manifest, self.plan, self.template = cfg, manifest, plan, template
        self.with_messages, self.rejects, self.stats, self.splitter = with_messages, rejects, stats, splitter
        self.shard_dir = out / "shards" / manifest_stem(manifest)
        self.index = ShardIndex.load(self.shard_dir)
        self.writer = ShardWriter(self.shard_dir / f"{run_id}.jsonl", cfg.fsync_every)
        self.rows_per_cut = len(plan.kinds) * len(plan.seeds)
        self.units: dict[str, _Unit] = {}
        self.waiting: dict[str, tuple[str, Row]] = {}  # request id -> (unit id, row)
        self.lock = threading.Lock()
        self.bar: tqdm | None = None
        self.seen: set[int] = set()  # 64-bit hashes of the cut ids read so far

    # -- planning and loading (the request generator; may run on the engine's thread) ---------------
    def pending_rows(self, cut: Cut | str) -> list[Row]:
        """Rows of a cut (or cut id) not yet written: neither in the shards nor among the cut's captions."""
        cut_id, have = (cut, set()) if isinstance(cut, str) else (cut.id, {c.id for c in get_captions(cut)})
        return [r for r in self.plan.rows(cut_id) if r.caption_id not in have and not self.index.is_done(r.caption_id)]

    def _progress(self, n: int, total_delta: int = 0, skipped: bool = False) -> None:
        with self.lock:
            self.stats.rows_planned += total_delta
            self.stats.rows_skipped += n if skipped else 0
            if self.bar is not None:
                if total_delta:
                    self.bar.total += total_delta
                    self.bar.refresh()
                self.bar.update(n)

    def _skip(self, n: int) -> None:
        self._progress(n, skipped=True)

    def _plan(self, cut: Cut) -> _Job | None:
        self.stats.rows_planned += self.rows_per_cut
        if not first_time(self.seen, cut.id):
            self._reject(cut.id, AudioReject("duplicate_id", "the manifest repeats this cut id; "
                                                      "only its first occurrence is annotated"))
            return None
        if cut.duration > self.cfg.max_duration_s:
            if not self.cfg.vad.enabled:
                self._reject(cut.id, AudioReject(
                    "too_long", f"{cut.duration:.1f} s is over max_duration_s {self.cfg.max_duration_s:g} and vad is off"))
                return None
            pieces = self.index.all_pieces(cut.id)
            if pieces is not None and not any(self.pending_rows(p) for p in pieces):
                self._progress(0, (len(pieces) - 1) * self.rows_per_cut)
                self._skip(len(pieces) * self.rows_per_cut)
                return None
            return _Job(cut, None)
        rows = self.pending_rows(cut)
        self._skip(self.rows_per_cut - len(rows))
        return _Job(cut, rows) if rows else None

    def _load(self, job: _Job) -> list[tuple[Cut, np.ndarray | None, list[Row]]] | AudioReject:
        """The job's audio (a long recording: its VAD pieces, whose audio is read when they are sent)."""
        try:
            if job.rows is not None:
                return [(job.cut, load_checked_audio(job.cut, self.cfg.length_tolerance_s, self.cfg.min_peak),
                         job.rows)]
            check_header(job.cut, self.cfg.length_tolerance_s)
            pieces = self.splitter.split(job.cut, self.cfg.min_peak)
        except AudioReject as e:
            return e
        except Exception as e:  # VAD or an unexpected loader failure: recorded, the run goes on
            return AudioReject("load_failed", f"{type(e).__name__}: {e}")
        if not pieces:
            return AudioReject("no_speech", f"Silero VAD found no speech piece of at least {self.cfg.vad.min_piece_s:g} s")
        return [(p, None, self.pending_rows(p)) for p in pieces]

    def _reject(self, cut_id: str, err: AudioReject) -> None:
        self.rejects.add(cut_id, err.code, err.detail, manifest=self.manifest.name)
        self._progress(self.rows_per_cut)

    def requests(self, cuts: Iterable[Cut]) -> Iterator[GenerationRequest]:
        """Requests of every pending row, in manifest order; audio loaded ``prefetch`` cuts ahead."""
        it = iter(cuts)
        queue: deque[tuple[_Job, Any]] = deque()
        more = True
        with ThreadPoolExecutor(self.cfg.audio_workers, thread_name_prefix="annotate-audio") as pool:
            while True:
                while more and len(queue) < self.cfg.prefetch:
                    cut = next(it, None)
                    if cut is None:
                        more = False
                    elif (job := self._plan(cut)) is not None:
                        queue.append((job, pool.submit(self._load, job)))
                if not queue:
                    return
                job, future = queue.popleft()
                loaded = future.result()
                if isinstance(loaded, AudioReject):
                    self._reject(job.cut.id, loaded)
                    continue
                if job.rows is None:  # VAD pieces: the cut's rows become rows per piece
                    self._progress(0, (len(loaded) - 1) * self.rows_per_cut)
                    for _, _, rows in loaded:
                        self._skip(self.rows_per_cut - len(rows))
                for unit_cut, audio, rows in loaded:
                    if rows and audio is None:  # a VAD piece: read now, one piece at a time
                        try:
                            audio = load_checked_audio(unit_cut, self.cfg.length_tolerance_s)
                        except AudioReject as e:
                            self._reject(unit_cut.id, e)
                            continue
                    if rows:
                        self._register(unit_cut, rows)
                        for row in rows:
                            yield make_request(row, unit_cut, audio, self.template, self.cfg.sampling,
                                               self.plan.prompt_id, self.cfg.tag_fields if self.cfg.tags else None,
                                               self.with_messages)

    def _register(self, cut: Cut, rows: list[Row]) -> None:
        with self.lock:
            self.units[cut.id] = _Unit(with_captions(cut, []), len(rows))
            for row in rows:
                self.waiting[row.caption_id] = (cut.id, row)
            self.stats.rows_requested += len(rows)
            self.stats.clips_sent += 1
            self.stats.audio_seconds_sent += cut.duration

    # -- results (the consumer's thread) ---------------------------------------------------------------
    def on_result(self, result: GenerationResult) -> None:
        with self.lock:
            entry = self.waiting.pop(result.request_id, None)
            if entry is None:
                log.warning("engine returned a result for an unknown request %r", result.request_id)
                return
            unit_id, row = entry
            unit = self.units[unit_id]
            text = clean_output(result.text) if result.ok else ""
            if text:
                unit.captions.append(self.plan.caption(row, text))
            else:
                self._failure(unit_id, row, result.error or "the engine returned an empty text")
            unit.remaining -= 1
            if self.bar is not None:
                self.bar.update(1)
            if unit.remaining == 0:
                self._write(self.units.pop(unit_id))

    def _failure(self, unit_id: str, row: Row, error: str) -> None:
        self.stats.failures += 1
        self.rejects.add(unit_id, "engine_failure", error, manifest=self.manifest.name, kind=row.kind, seed=row.seed,
                         request_id=row.caption_id)
        if self.bar is not None:
            self.bar.set_postfix(failed=self.stats.failures, refresh=False)

    def _write(self, unit: _Unit) -> None:
        self.writer.write(with_captions(unit.cut, unit.captions))
        self.stats.captions_written += len(unit.captions)

    def finish(self) -> None:
        """Units still waiting when the engine stopped: missing results are failures; write what came."""
        with self.lock:
            for request_id, (unit_id, row) in list(self.waiting.items()):
                self._failure(unit_id, row, "the engine returned no result for this request")
            self.waiting.clear()
            for unit in self.units.values():
                self._write(unit)
            self.units.clear()
        self.writer.close()

    def run(self, engine: Engine, progress: bool) -> None:
        total = count_cuts(self.manifest) * self.rows_per_cut
        with tqdm(total=total, desc=f"annotate {self.manifest.name}", unit="row", disable=not progress) as bar:
            self.bar = bar
            t0 = time.monotonic()
            try:
                requests = self.requests(read_cuts(self.manifest, recording=False, unique_ids=False))
                for result in fail_fast(engine, requests, self.cfg.engine_settings.stop_after_failures,
                                        f"annotate {self.manifest.name}"):
                    self.on_result(result)
            finally:
                self.stats.engine_seconds += time.monotonic() - t0
                self.finish()
                self.index.close()
                self.bar = None

    # -- merge ---------------------------------------------------------------------------------------
    def merged(self) -> Iterator[Cut]:
        """Every accepted cut of the input, in input order, with this config's captions from all shards."""
        index = self.index = ShardIndex.load(self.shard_dir)
        seen: set[int] = set()
        try:
            for cut in read_cuts(self.manifest, recording=False, unique_ids=False):
                if not first_time(seen, cut.id):
                    continue
                shard_cuts = index.cuts_of(cut.id)
                if shard_cuts:
                    for sc in shard_cuts:
                        yield add_captions(cut, get_captions(sc)) if sc.id == cut.id else sc
                elif cut.duration <= self.cfg.max_duration_s and not self.pending_rows(cut):
                    yield cut  # every row was already a caption of the input
        finally:
            index.close()


def annotate(cfg: AnnotateConfig, inputs: list[Path], out: Path, engine: Engine | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Caption ``inputs`` (manifests or data directories) into ``out``; returns the stats (also in
    ``out/stats.json``). ``engine``: a ready engine (None: built from ``cfg.engine`` and its section of
    ``cfg.engine_config``, and closed at the end)."""
    t0 = time.monotonic()
    out = Path(out)
    manifests = resolve_inputs(inputs, out)
    template = load_prompt(cfg.prompt)
    with OutputLock(out, "annotate"):
        own_engine = engine is None
        if engine is None:
            from annotate.engines.registry import build_engine

            engine = build_engine(cfg.engine, cfg.engine_settings)
        try:
            prompt_id, with_messages = prompt_for(engine, template, cfg.kinds)
            plan = RowPlan(engine.name, engine.model, prompt_id, tuple(cfg.kinds), tuple(cfg.seeds))
            run_id = new_run_id()
            stats = RunStats()
            splitter = SileroSplitter(cfg.vad, cfg.max_duration_s)
            with RejectLog(out / REJECTS_NAME) as rejects:
                for manifest in manifests:
                    job = ManifestRun(cfg, manifest, out, plan, template, with_messages, run_id, rejects, stats,
                                      splitter)
                    job.run(engine, progress)
                    n, seconds = write_manifest_stream(job.merged(), out / manifest.name)
                    stats.manifests[manifest.name] = {"input": str(manifest), "clips": n, "audio_hours": seconds / 3600}
        finally:
            if own_engine:
                engine.close()
        summary = _summary(cfg, plan, run_id, stats, rejects.counts, time.monotonic() - t0)
        atomic_write_text(out / "stats.json", json.dumps(summary, indent=2) + "\n")
    if stats.rows_requested and not stats.captions_written:
        raise ClspError(f"annotate: every one of the {stats.rows_requested} requested rows failed (see "
                        f"{out / REJECTS_NAME}); nothing was captioned")
    return summary


def _summary(cfg: AnnotateConfig, plan: RowPlan, run_id: str, s: RunStats, rejects: Counter[str],
             wall: float) -> dict[str, Any]:
    sent_h = s.audio_seconds_sent / 3600
    return {
        "run_id": run_id,
        "engine": plan.engine, "model": plan.model, "prompt_id": plan.prompt_id,
        "kinds": list(plan.kinds), "seeds": list(plan.seeds),
        "clips": sum(m["clips"] for m in s.manifests.values()),
        "audio_hours": round(sum(m["audio_hours"] for m in s.manifests.values()), 6),
        "manifests": s.manifests,
        "rows": {"planned": s.rows_planned, "already_done": s.rows_skipped, "requested": s.rows_requested},
        "captions_written": s.captions_written,
        "failures": s.failures,
        "rejects": dict(sorted(rejects.items())),
        "clips_captioned": s.clips_sent,
        "audio_hours_captioned": round(sent_h, 6),
        "engine_seconds": round(s.engine_seconds, 3),
        "audio_hours_per_engine_hour": (round(s.audio_seconds_sent / s.engine_seconds, 3)
                                        if s.engine_seconds and s.audio_seconds_sent else None),
        "wall_seconds": round(wall, 3),
        "config": _public_config(cfg),
    }


def _public_config(cfg: AnnotateConfig) -> dict[str, Any]:
    """The config as written to stats.json: credentials in the engine settings masked."""
    out = to_dict(cfg)
    out["engine_config"] = public_engine_config(out["engine_config"])
    return out
