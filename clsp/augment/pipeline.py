"""``clsp augment``: augmented copies of the clips of any lhotse manifests (synthetic or a user's own speech).

Output directory::

    OUT/wavs/<cut_id>-aug<k>.wav        16 kHz mono PCM-16, one per augmented copy
    OUT/<name of each input manifest>    the input's clips (unless ``include_original: false``) and their copies
    OUT/rejects.jsonl                    one line per clip left out (:mod:`clsp.data.rejects`: cut_id, manifest,
                                         code, message)
    OUT/augment.json                     the config, counts per manifest, label decisions, time taken

A clip whose audio is missing, unreadable, silent or shorter than ``min_duration_s`` (or that the measurer or a
transform cannot handle) is a line in ``rejects.jsonl`` and is left out of the output manifest; the run goes on.
Each clip's draws come from ``numpy.random.default_rng([seed, crc32(cut_id)])``, so the output is identical for a
seed whatever the number of workers. A finished run with the same config and inputs is reused.
"""

from __future__ import annotations

import json
import shutil
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from clsp.audio import SAMPLING_RATE
from clsp.augment.clip import augment_copy, draw_steps, known_gender, transcript_of
from clsp.augment.config import AugmentRunConfig
from clsp.config import to_dict
from clsp.data.manifest import read_cuts, resolve_inputs, write_cuts
from clsp.data.rejects import REJECTS_NAME, RejectLog, reject_record
from clsp.errors import ClspError
from clsp.outputs import OutputLock, atomic_write_text, refuse_nonempty
from clsp.parallel import process_pool

MARKER = "augment.json"


def clip_rng(seed: int, cut_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(cut_id.encode())])


def augment_cut(job: tuple[dict, str, AugmentRunConfig, str]) -> tuple[list[dict], list[dict], list[dict]]:
    """One input cut -> (output cut dicts, rejects, provenance of each copy). Never raises for bad audio."""
    from clsp.audio_checks import AudioReject, load_checked_audio
    from lhotse.serialization import deserialize_item

    from clsp.style.measure import measure_style

    raw, manifest, cfg, out = job
    cut = deserialize_item(raw)  # (it consumes parts of ``raw``: outputs are written from ``cut``)
    try:
        audio = load_checked_audio(cut)
    except AudioReject as e:
        return [], [reject_record(cut.id, e.code, e.detail, manifest)], []
    except Exception as e:  # an unexpected loader failure is a reject too
        return [], [reject_record(cut.id, "undecodable", f"{type(e).__name__}: {e}", manifest)], []
    seconds = len(audio) / SAMPLING_RATE
    if seconds < cfg.min_duration_s:
        return [], [reject_record(cut.id, "too_short", f"{seconds:.3f} s, under min_duration_s "
                                  f"{cfg.min_duration_s} s", manifest)], []
    rng = clip_rng(cfg.seed, cut.id)
    outputs = [cut.to_dict()] if cfg.include_original else []
    if rng.random() >= cfg.fraction:
        return [cut.to_dict()], [], []
    try:
        measured = measure_style(audio, SAMPLING_RATE, transcript=transcript_of(cut), gender=known_gender(cut))
    except ClspError as e:
        code = "silent" if "silent" in str(e) else "too_short" if "too short" in str(e) else "unmeasurable"
        return [], [reject_record(cut.id, code, str(e), manifest)], []
    copies, provenance = [], []
    try:
        for k in range(cfg.copies):
            steps = draw_steps(rng, cfg, measured)
            new, prov = augment_copy(cut, audio, measured, steps, cfg, f"{cut.id}-aug{k}",
                                     Path(out) / "wavs", rng, cfg.num_global_captions, cfg.num_fine_captions,
                                     cfg.seed, extra={"source_manifest": manifest})
            copies.append(new.to_dict())
            provenance.append(prov)
    except Exception as e:  # a transform or the measurer failed on this clip: recorded, the run goes on
        return [], [reject_record(cut.id, "augment_failed", f"{type(e).__name__}: {e}", manifest)], []
    return outputs + copies, [], provenance


def _decision_counts(provenance: list[dict]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for p in provenance:
        for span in p.get("labels", []):
            for attr, decision in span.items():
                counts.setdefault(attr, Counter())[decision] += 1
    return {a: dict(sorted(c.items())) for a, c in sorted(counts.items())}


def augment_manifests(cfg: AugmentRunConfig, inputs: list[str | Path], out: str | Path, progress: bool = True,
                      overwrite: bool = False) -> dict[str, Any]:
    """Augment every manifest named by ``inputs`` (files or data directories) into ``out``; returns the summary
    also saved as ``augment.json``."""
    from lhotse.serialization import deserialize_item

    out = Path(out)
    manifests = resolve_inputs([Path(p) for p in inputs], out)
    wanted = json.loads(json.dumps({"config": {k: v for k, v in to_dict(cfg).items() if k != "workers"},
                                    "inputs": [str(m.resolve()) for m in manifests]}))
    marker = out / MARKER
    with OutputLock(out, "augment"):
        if marker.is_file() and not overwrite:
            done = json.loads(marker.read_text())
            if {k: done.get(k) for k in wanted} == wanted and all((out / m.name).is_file() for m in manifests):
                return {**done, "reused": True}
            raise ClspError(f"{out}: holds another augment run (other config or inputs); use --overwrite to "
                            "replace it")
        refuse_nonempty(out, overwrite)  # (a marker here means --overwrite was given)
        marker.unlink(missing_ok=True)  # a run stopped halfway must not pass for the one it was replacing
        if (out / "wavs").is_dir():
            shutil.rmtree(out / "wavs")
        (out / "wavs").mkdir(parents=True, exist_ok=True)
        start = time.time()
        per_manifest, all_provenance = {}, []
        with process_pool(cfg.workers) as pool, RejectLog(out / REJECTS_NAME) as log:
            for m in manifests:
                jobs = [(c.to_dict(), m.name, cfg, str(out)) for c in read_cuts(m)]
                results, provenance, rejected = [], [], 0
                for cuts, rej, prov in tqdm(pool.map(augment_cut, jobs, chunksize=4), total=len(jobs),
                                            desc=f"augment {m.name}", unit="clip", disable=not progress):
                    results.extend(cuts)
                    provenance.extend(prov)
                    for r in rej:
                        log.add(**r)
                    rejected += len(rej)
                write_cuts([deserialize_item(r) for r in results], out / m.name)
                per_manifest[m.name] = {"input": len(jobs), "copies": len(provenance),
                                        "output": len(results), "rejected": rejected}
                all_provenance += provenance
        steps = Counter(s["name"] for p in all_provenance for s in p["steps"])
        summary = {**wanted, "manifests": per_manifest, "rejects": dict(log.counts),
                   "steps": dict(sorted(steps.items())), "labels": _decision_counts(all_provenance),
                   "seconds": round(time.time() - start, 1), "reused": False}
        atomic_write_text(marker, json.dumps(summary, indent=2))  # last: its presence means the run is whole
    return summary
