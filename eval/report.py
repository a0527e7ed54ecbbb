"""Run outputs: every evaluation writes ``<name>.json`` (all figures) and ``<name>.md`` (a table)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; floats with 4 decimals, None as a dash."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def retrieval_markdown(result: dict, title: str) -> str:
    keys = ["R@1", "R@5", "R@10", "mAP@10"]
    rows = [[direction.replace("_", " "), *(result[direction][k] for k in keys)]
            for direction in ("speech_to_text", "text_to_speech")]
    note = (f"\n{result['n']} clips, one {result['kind']} caption each ({result['caption_choice']} kept), "
            f"full {result['n']} × {result['n']} similarity; chance R@1 = {result['chance_R@1']:.4f}.\n")
    return f"# {title}\n\n" + markdown_table(["direction", *keys], rows) + note


def zeroshot_markdown(result: dict, title: str) -> str:
    summary = markdown_table(["WA", "UA", "clips"], [[result["WA"], result["UA"], result["n"]]])
    per_class = markdown_table(["label", "recall", "prompts"],
                               [[lab, result["per_class_recall"][lab], " / ".join(result["prompts"][lab])]
                                for lab in result["labels"]])
    return f"# {title}\n\n{summary}\n## Per-class recall\n\n{per_class}"


def similarity_markdown(result: dict, title: str) -> str:
    rows = [[kind.replace("_", "↔"), "all", r["pearson"], r["spearman"], r["n"]]
            for kind in ("speech_text", "speech_speech") if (r := result.get(kind))]
    rows += [[key.split("/")[0].replace("_", "↔"), key.split("/", 1)[1], r["pearson"], r["spearman"], r["n"]]
             for key, r in result.get("by_group", {}).items()]
    return f"# {title}\n\n" + markdown_table(["pairs", "group", "Pearson r", "Spearman r", "n"], rows)


def write_run(out_dir: str | Path, name: str, result: dict, markdown: str) -> tuple[Path, Path]:
    """Write ``OUT/<name>.json`` and ``OUT/<name>.md``; returns both paths."""
    from clsp.outputs import atomic_write_text, output_dir

    out = output_dir(out_dir, "--out")
    js, md = out / f"{name}.json", out / f"{name}.md"
    atomic_write_text(js, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(md, markdown)
    return js, md
