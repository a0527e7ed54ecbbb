"""``clsp verify``: run the checks over manifests and mark every checked caption "kept" or "rejected".

Input: manifests (``X.jsonl.gz``) or data directories (every ``cuts_*.jsonl.gz`` in them). Output: ``out``
holds a manifest of the same file name per input, with the checked captions' ``status``/``reasons`` set
and everything else untouched, plus ``verify_summary.json`` (per check: checked, kept, rejected by code).

Checks run cheap to expensive — rules, acoustic, llm — and, unless ``run_all_checks``, a check only sees
the captions every earlier check kept. The acoustic measurement runs once per cut, only when one of its
captions is still in play. A rerun with the same config, inputs and engine reuses a finished output; any
run is deterministic (the LLM requests carry fixed seeds).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lhotse.cut import Cut

import clsp.style.measure as style_measure
from annotate.engines.configs import public_engine_config
from annotate.prompts import prompt_path
from clsp.config import to_dict
from clsp.data.captions import Caption, get_captions, update_captions
from clsp.data.manifest import damaged_message, load_checked, resolve_inputs, write_cuts
from clsp.errors import ManifestError
from clsp.outputs import OutputLock, atomic_write_text
from verify.acoustic import acoustic_check
from verify.config import VerifyConfig
from verify.llm_check import CheckItem, load_prompt, one_line, run_checklist
from verify.rules import CaptionRules, reason_code

SUMMARY_NAME = "verify_summary.json"
ENGINE_ERROR = "llm:engine_error:"


@dataclass
class CheckTally:
    """Counts of one check: captions it saw, kept, rejected, and rejections by reason code."""

    checked: int = 0
    kept: int = 0
    rejected: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)  # e.g. llm: kept_unparseable, retried

    def add(self, reasons: list[str]) -> None:
        self.checked += 1
        if reasons:
            self.rejected += 1
            for code in dict.fromkeys(reason_code(r)[1] for r in reasons):
                self.by_code[code] += 1
        else:
            self.kept += 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"checked": self.checked, "kept": self.kept, "rejected": self.rejected,
                               "by_code": dict(sorted(self.by_code.items()))}
        out.update(sorted(self.extra.items()))
        return out


@dataclass
class _Target:
    """One caption being checked, and the reasons gathered so far."""

    cut_index: int
    cut_id: str
    caption: Caption
    transcript: str | None
    reasons: list[str] = field(default_factory=list)
    unsure: list[str] = field(default_factory=list)  # why it could not be judged at all: it stays pending
    notes: list[str] = field(default_factory=list)  # checks that could not decide (kept, reason noted)

    @property
    def key(self) -> str:
        return f"{self.cut_id}/{self.caption.id}"


def cut_transcript(cut: Cut) -> str | None:
    text = " ".join(s.text.strip() for s in cut.supervisions if s.text and s.text.strip())
    return text or None


class Verifier:
    """The checks of one config, ready to run on lists of cuts (holds the compiled rules, prompt, engine).

    Without an ``engine``, the llm check builds one from the config the first time it has captions to
    check (a run whose captions all fail the cheaper checks never starts an LLM) and :meth:`close` closes it.
    """

    def __init__(self, cfg: VerifyConfig, engine: Any = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.checks = cfg.ordered_checks()
        self.progress = progress
        self.rules = CaptionRules(cfg.rules) if "rules" in self.checks else None
        self.prompt = load_prompt(cfg.llm.prompt) if "llm" in self.checks else None
        self.engine = engine
        self._own_engine = False
        self.tallies = {name: CheckTally() for name in self.checks}
        self.totals: Counter[str] = Counter()

    def _in_play(self, t: _Target) -> bool:
        return not t.unsure and (self.cfg.run_all_checks or not t.reasons)

    def verify_cuts(self, cuts: list[Cut]) -> list[Cut]:
        """Copies of ``cuts`` with every caption to check set to kept/rejected (others left as they are)."""
        targets = self._targets(cuts)
        for name in self.checks:
            getattr(self, f"_run_{name}")(cuts, targets)
        verdicts: dict[tuple[int, str], _Target] = {(t.cut_index, t.caption.id): t for t in targets}
        for t in targets:
            self.totals["checked"] += 1
            self.totals["rejected" if t.reasons else "left_pending" if t.unsure else "kept"] += 1

        def apply(i: int) -> Callable[[Caption], Caption]:
            def fn(c: Caption) -> Caption:
                t = verdicts.get((i, c.id))
                if t is None:
                    return c
                if t.reasons:
                    return c.with_status("rejected", t.reasons + t.notes)
                return c.with_status("pending", t.unsure + t.notes) if t.unsure else c.with_status("kept", t.notes)
            return fn

        return [update_captions(cut, apply(i)) if any((i, c.id) in verdicts for c in get_captions(cut)) else cut
                for i, cut in enumerate(cuts)]

    def _targets(self, cuts: list[Cut]) -> list[_Target]:
        out = []
        for i, cut in enumerate(cuts):
            transcript = cut_transcript(cut)
            for c in get_captions(cut):
                if c.kind in self.cfg.kinds and (c.status == "pending" or self.cfg.recheck):
                    out.append(_Target(i, cut.id, c, transcript))
                else:
                    self.totals["not_checked"] += 1
        return out

    def _run_rules(self, cuts: list[Cut], targets: list[_Target]) -> None:
        assert self.rules is not None
        for t in targets:
            if self._in_play(t):
                found = self.rules.reasons(t.caption.text, t.caption.kind, t.transcript)
                self.tallies["rules"].add(found)
                t.reasons += found

    def _run_acoustic(self, cuts: list[Cut], targets: list[_Target]) -> None:
        by_cut: dict[int, list[_Target]] = {}
        for t in targets:
            if self._in_play(t):
                by_cut.setdefault(t.cut_index, []).append(t)
        for i, group in _progress(by_cut.items(), self.progress, "acoustic", len(by_cut)):
            cut = cuts[i]
            if cut.duration > self.cfg.acoustic_max_audio_s:  # never load hours of audio: leave them pending
                for t in group:
                    t.unsure.append(f"acoustic:too_long: {cut.duration:.0f} s is over acoustic_max_audio_s "
                                    f"{self.cfg.acoustic_max_audio_s:g}")
                    self.tallies["acoustic"].extra["left_pending_too_long"] += 1
                continue
            try:
                audio = np.asarray(cut.load_audio(), dtype=np.float32)
                audio = audio.mean(axis=0) if audio.ndim == 2 else audio
                measured = style_measure.measure_style(audio, cut.sampling_rate, group[0].transcript,
                                                        self.cfg.measure)  # once per cut
            except Exception as e:  # unreadable/odd audio: its captions cannot be grounded
                measured, failure = None, f"acoustic:audio_error: {one_line(f'{type(e).__name__}: {e}', 200)}"
            for t in group:
                tally = self.tallies["acoustic"]
                if measured is None:
                    found, notes = [failure], []
                else:
                    verdict = acoustic_check(t.caption.text, measured, self.cfg.acoustic)
                    found, notes = list(verdict.reasons), list(verdict.uncertain)
                tally.add(found)
                if notes and not found:  # kept, with the claims the audio cannot settle noted
                    tally.extra["uncertain"] += 1
                    for code in dict.fromkeys(reason_code(n.replace("uncertain:", "", 1))[1] for n in notes):
                        tally.extra[f"uncertain:{code}"] += 1
                t.reasons += found
                t.notes += notes

    def _get_engine(self) -> Any:
        if self.engine is None:
            from annotate.engines.registry import build_engine

            self.engine = build_engine(self.cfg.engine, self.cfg.engine_settings)
            self._own_engine = True
        return self.engine

    def close(self) -> None:
        if self._own_engine and self.engine is not None:
            self.engine.close()
            self.engine, self._own_engine = None, False

    def _run_llm(self, cuts: list[Cut], targets: list[_Target]) -> None:
        assert self.prompt is not None
        play = [t for t in targets if self._in_play(t)]
        if not play:
            return
        items = [CheckItem(t.key, t.cut_id, t.caption.id, t.caption.kind, t.caption.text, t.transcript)
                 for t in play]
        outcomes = run_checklist(items, self._get_engine(), self.prompt, self.cfg.llm, progress=self.progress,
                                 stop_after_failures=self.cfg.engine_settings.stop_after_failures)
        tally = self.tallies["llm"]
        for t in play:
            outcome = outcomes[t.key]
            tally.extra["retried"] += outcome.attempts > 1
            if outcome.verdict is None and (outcome.failure or "").startswith(ENGINE_ERROR):
                tally.extra["left_pending_engine_error"] += 1  # the engine failed, not the caption
                t.unsure.append(outcome.failure)
                continue
            unparseable = outcome.verdict is None and (outcome.failure or "").startswith("llm:unparseable:")
            if unparseable and self.cfg.llm.keep_unparseable:  # engine errors are never kept
                tally.extra["kept_unparseable"] += 1
                tally.add([])
                continue
            found = outcome.reasons()
            tally.add(found)
            t.reasons += found

    def summary(self) -> dict[str, Any]:
        return {"per_check": {name: t.to_dict() for name, t in self.tallies.items()},
                "captions": {k: self.totals[k] for k in ("checked", "kept", "rejected", "left_pending",
                                                         "not_checked")}}


def _progress(items: Any, enabled: bool, desc: str, total: int) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, unit="cut")


def _file_sha256(path: Path) -> str:
    """sha256 of the manifest's content (decompressed: a gzip header's timestamp must not count, so a
    manifest rewritten with the same cuts, e.g. by an annotate rerun, still matches)."""
    h = hashlib.sha256()
    try:
        with (gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (EOFError, OSError, zlib.error) as e:
        raise ManifestError(damaged_message(path, None, e)) from None
    return h.hexdigest()


def run_fingerprint(cfg: VerifyConfig, manifests: list[Path], engine_id: list[str | None]) -> str:
    """A hash of everything a run's result depends on: config, prompt text, engine, input manifests."""
    h = hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode())
    h.update(json.dumps(engine_id).encode())
    if "llm" in cfg.checks:
        h.update(prompt_path(cfg.llm.prompt).read_bytes())
    for m in manifests:
        h.update(m.name.encode() + _file_sha256(m).encode())
    return h.hexdigest()


def _reusable(out: Path, fingerprint: str, manifests: list[Path]) -> dict[str, Any] | None:
    path = out / SUMMARY_NAME
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if saved.get("fingerprint") != fingerprint or not all((out / m.name).is_file() for m in manifests):
        return None
    return saved


def verify(cfg: VerifyConfig, inputs: list[Path], out: Path, engine: Any = None, progress: bool = True) -> dict:
    """Verify every manifest of ``inputs`` into ``out``; returns the summary (also saved as verify_summary.json).

    ``engine``: an annotate engine for the llm check (None: built from ``cfg.engine`` and its section of
    ``cfg.engine_config`` when the llm check runs, and closed at the end).
    """
    out = Path(out)
    manifests = resolve_inputs(inputs, out)  # files or data directories, names unique
    if "llm" in cfg.checks:
        load_prompt(cfg.llm.prompt)  # a bad prompt file stops the run before any work
        if engine is None:  # ...and so does an engine that cannot start (e.g. its model is not to be had)
            from annotate.engines.registry import preflight_engine

            preflight_engine(cfg.engine, cfg.engine_settings)
    engine_id = ([getattr(engine, "name", None), getattr(engine, "model", None)] if engine is not None
                 else [cfg.engine, cfg.engine_settings.model]) if "llm" in cfg.checks else [None, None]
    fingerprint = run_fingerprint(cfg, manifests, engine_id)
    with OutputLock(out, "verify"):
        if (saved := _reusable(out, fingerprint, manifests)) is not None:
            return {**saved, "reused": True}
        start = time.perf_counter()
        per_manifest = {}
        verifier = Verifier(cfg, engine, progress)
        try:
            for path in manifests:
                cuts = load_checked(path, check_audio="acoustic" in cfg.checks)
                before = verifier.totals["checked"]
                write_cuts(verifier.verify_cuts(cuts), out / path.name)
                per_manifest[path.name] = {"input": str(path), "cuts": len(cuts),
                                           "captions_checked": verifier.totals["checked"] - before}
        finally:
            verifier.close()
        config = to_dict(cfg)
        config["engine_config"] = public_engine_config(config["engine_config"])
        summary = {
            "fingerprint": fingerprint,
            "checks": cfg.ordered_checks(),
            "engine": {"name": engine_id[0], "model": engine_id[1]} if "llm" in cfg.checks else None,
            "prompt_id": verifier.prompt.prompt_id if verifier.prompt else None,
            "manifests": per_manifest,
            **verifier.summary(),
            "seconds": round(time.perf_counter() - start, 2),
            "config": config,
        }
        atomic_write_text(out / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
    return {**summary, "reused": False}


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a table: one row per check (checked, kept, rejected, rejections by code), then all."""
    rows = [f"{'check':10s} {'checked':>8s} {'kept':>8s} {'rejected':>8s}  rejected by code"]
    for name, t in summary["per_check"].items():
        codes = ", ".join(f"{c} {n}" for c, n in sorted(t["by_code"].items(), key=lambda kv: (-kv[1], kv[0])))
        extra = [f"{k} {v}" for k, v in t.items() if k not in ("checked", "kept", "rejected", "by_code") and v]
        rows.append(f"{name:10s} {t['checked']:8d} {t['kept']:8d} {t['rejected']:8d}  {codes or '-'}"
                    + (f"  ({', '.join(extra)})" if extra else ""))
    c = summary["captions"]
    pending = f"; {c['left_pending']} left pending (see their reasons)" if c.get("left_pending") else ""
    rows.append(f"{'all':10s} {c['checked']:8d} {c['kept']:8d} {c['rejected']:8d}  "
                f"{c['not_checked']} caption(s) left as they were{pending}")
    return "\n".join(rows)
