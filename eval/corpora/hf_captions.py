"""ParaSpeechCaps / FCaps (Hugging Face ``datasets``) → our manifests with global and fine captions.

The datasets hold captions and labels, not audio: each row names its clip by a path relative to the
audio corpora the user downloads (VoxCeleb, Expresso, EARS, Emilia). ``dataset`` is a local copy (a
``save_to_disk`` folder, or a folder of data files such as a hub snapshot with ``data/test-*.parquet``)
or a hub id. Rows become recipe-style cuts (``short_captions`` = global, ``long_captions`` = fine,
labels on the supervision) and go through :func:`clsp.data.recipe.from_recipe_cut`, the same import as
``clsp manifest import-recipe``, so captions keep their order (CLSP evaluates global retrieval with the
first and fine retrieval with the last caption).

Audio is looked for at ``AUDIO_ROOT/<path>``, then ``AUDIO_ROOT/<source>/<path>``, each also without
``_voicefixer`` (ParaSpeechCaps names VoxCeleb clips by their enhanced copies; CLSP uses the originals).
Rows whose audio is not found are recorded in ``rejects.jsonl``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lhotse.utils import fastcopy

from clsp.data.recipe import RECIPE_ATTRIBUTES, from_recipe_cut
from clsp.errors import ClspError
from eval.corpora.common import Prepared, file_cut, write_prepared


@dataclass(frozen=True)
class CaptionColumns:
    """Which dataset column holds what (``None``/empty: the dataset has no such column)."""

    audio: str = "relative_audio_path"
    global_captions: tuple[str, ...] = ("text_description",)
    fine_captions: tuple[str, ...] = ()
    transcript: str | None = "transcription"
    speaker: str | None = "name"
    source: str | None = "source"
    gender: str | None = "gender"


PRESETS = {
    "paraspeechcaps": CaptionColumns(),
    # FCaps keeps the recipe's field names; override with --column when a copy differs.
    "fcaps": CaptionColumns(audio="audio_path", global_captions=("short_captions",), fine_captions=("long_captions",),
                            transcript="text", speaker="speaker", source="source", gender="gender"),
}
SPLIT_NAMES = {"train_base": "train", "train_scaled": "train", "validation": "dev"}


def with_overrides(columns: CaptionColumns, overrides: dict[str, str]) -> CaptionColumns:
    """``{"fine_captions": "a,b", "speaker": ""}`` → a copy with those columns (comma = several)."""
    known = set(CaptionColumns.__dataclass_fields__)
    values: dict[str, Any] = {}
    for role, name in overrides.items():
        if role not in known:
            raise ClspError(f"unknown column role '{role}' (known: {', '.join(sorted(known))})")
        if role in ("global_captions", "fine_captions"):
            values[role] = tuple(n for n in name.split(",") if n)
        else:
            values[role] = name or None
    return replace(columns, **values)


def load_split(dataset: str | Path, split: str):
    """A ``datasets.Dataset``: ``load_from_disk`` folders, local data-file folders, or a hub id."""
    import datasets

    p = Path(dataset)
    try:
        if p.is_dir() and any((p / f).is_file() for f in ("dataset_dict.json", "state.json", "dataset_info.json")) \
                and not (p / "data").is_dir():
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise ClspError(f"{p}: no split '{split}' (has: {', '.join(ds)})")
                ds = ds[split]
            return ds
        return datasets.load_dataset(str(dataset), split=split)
    except ClspError:
        raise
    except Exception as e:  # datasets raises many kinds (missing split, offline hub, bad files)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ClspError(f"{dataset}: cannot load split '{split}' with datasets ({first})") from None


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [re.sub(r"[\t\n\r]+", " ", t).strip() for t in items if isinstance(t, str) and t.strip()]


def find_audio(audio_root: Path, rel: str, source: str | None) -> Path | None:
    bases = [audio_root] + ([audio_root / source] if source else [])
    names = [rel] + ([rel.replace("_voicefixer", "")] if "_voicefixer" in rel else [])
    for base in bases:
        for name in names:
            if (base / name).is_file():
                return base / name
    return None


def _row_cut(row: dict[str, Any], cols: CaptionColumns, audio_root: Path, cut_prefix: str, dataset_name: str):
    """One dataset row → a cut with caption records, or a reason string when it cannot be used."""
    audio = row[cols.audio]
    rel = audio.get("path") if isinstance(audio, dict) else audio
    if not isinstance(rel, str) or not rel:
        return f"column '{cols.audio}' holds no audio path"
    source = row.get(cols.source) if cols.source else None
    path = Path(rel) if Path(rel).is_absolute() and Path(rel).is_file() else find_audio(audio_root, rel, source)
    if path is None:
        return f"audio '{rel}' not found under {audio_root}"
    cut_id = cut_prefix + re.sub(r"\.\w+$", "", rel.replace("_voicefixer", "")).replace("/", "-")
    custom = {"short_captions": [t for c in cols.global_captions for t in _texts(row.get(c))],
              "long_captions": [t for c in cols.fine_captions for t in _texts(row.get(c))]}
    for name in RECIPE_ATTRIBUTES:
        if row.get(name) is not None:
            custom[name] = list(row[name]) if isinstance(row[name], list) else str(row[name]).strip()
    gender = str(row[cols.gender]).strip().lower() if cols.gender and row.get(cols.gender) else None
    transcript = str(row.get(cols.transcript) or "").strip() if cols.transcript else ""
    speaker = str(row[cols.speaker]).strip() if cols.speaker and row.get(cols.speaker) is not None else None
    try:
        cut = file_cut(path, cut_id, {"source": source} if source else {}, speaker=speaker, gender=gender,
                       text=transcript)
    except Exception as e:
        return f"unreadable audio '{path}' ({type(e).__name__}: {e})"
    cut = fastcopy(cut, supervisions=[fastcopy(cut.supervisions[0], custom=custom)])
    return from_recipe_cut(cut, dataset=dataset_name)


def prepare_caption_dataset(dataset: str | Path, audio_root: str | Path, out_dir: str | Path, split: str = "test",
                            preset: str = "paraspeechcaps", columns: dict[str, str] | None = None,
                            out_split: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Write ``OUT/cuts_<out_split>.jsonl.gz`` (default: the split, ``train_*`` → ``train``)."""
    if preset not in PRESETS:
        raise ClspError(f"unknown caption dataset preset '{preset}' (known: {', '.join(PRESETS)})")
    cols = with_overrides(PRESETS[preset], columns or {})
    audio_root = Path(audio_root)
    if not audio_root.is_dir():
        raise ClspError(f"{audio_root}: audio root folder not found")
    ds = load_split(dataset, split)
    wanted = [cols.audio, *cols.global_captions, *cols.fine_captions]
    missing = [c for c in wanted if c not in ds.column_names]
    if missing:
        raise ClspError(f"{dataset} [{split}]: no column(s) {', '.join(missing)} (columns: "
                        f"{', '.join(ds.column_names)}; choose with --column ROLE=NAME)")
    prepared = Prepared()
    seen: set[str] = set()
    for i, row in enumerate(ds):
        if limit is not None and i >= limit:
            break
        made = _row_cut(row, cols, audio_root, f"{preset}-{split}-", preset)
        if isinstance(made, str):
            prepared.reject(f"{dataset}[{split}] row {i}", "unusable_row", made)
        elif made.id in seen:
            prepared.skipped["duplicate clip (same audio path as an earlier row)"] += 1
        else:
            seen.add(made.id)
            prepared.cuts.append(made)
    target = out_split or SPLIT_NAMES.get(split, split)
    return write_prepared(prepared, out_dir, preset, str(dataset), target, ("gender", "pitch", "speaking_rate", "accent"))
