"""Every stage reads manifests through one loader: a damaged or malformed manifest is one line naming the file
(exit status 2), or a recorded reject where the stage records rejects (annotate), never a traceback."""

import gzip
import json
from pathlib import Path

import pytest

from annotate.testing import TINY
from clsp.cli import main
from clsp.data.manifest import read_cuts, split_manifest_path, write_cuts

REPO = Path(__file__).resolve().parents[1]


def _lines(small_corpus: Path) -> list[str]:
    return gzip.decompress(split_manifest_path(small_corpus, "test").read_bytes()).decode().splitlines()


def make_defect(small_corpus: Path, out: Path, defect: str) -> Path:
    """``out/cuts_train.jsonl.gz``: the corpus' test split with one defect."""
    path = split_manifest_path(out, "train")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = _lines(small_corpus)
    first = json.loads(lines[0])
    if defect == "truncated":
        data = gzip.compress("\n".join(lines).encode() + b"\n")
        path.write_bytes(data[: len(data) * 2 // 3])
        return path
    if defect == "not_json":
        lines.insert(3, "this line is not JSON")
    elif defect == "wrong_schema":
        lines.insert(3, json.dumps({"id": "x-1", "start": 0, "duration": 2.0, "channel": 0, "speaker": "s"}))
    elif defect == "no_recording":
        first.pop("recording")
        lines[0] = json.dumps(first)
    elif defect == "duplicate_id":
        lines.insert(3, lines[0])
    elif defect == "bad_caption":
        first["custom"]["captions"][0]["kind"] = "medium"
        lines[0] = json.dumps(first)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


NEEDLES = {
    "truncated": "the file is damaged",
    "not_json": ":4: not a JSON object",
    "wrong_schema": ":4: cut 'x-1' is not a valid lhotse cut",
    "no_recording": ":1: cut '{first}': has no recording",
    "duplicate_id": ":4: cut id '{first}' appears twice",
    "bad_caption": ":1: cut '{first}' captions[0]: field 'kind' must be 'global' or 'fine'",
}


def stage_args(stage: str, manifest: Path, tmp: Path, model_dir: Path) -> list[str]:
    if stage == "annotate":
        return ["annotate", "--input", str(manifest), "--output", str(tmp / "o"), "--quiet",
                "--config", str(REPO / "configs" / "annotate-demo.yaml"), "--views", "1", "--kinds", "global"]
    if stage == "verify":
        return ["verify", "--input", str(manifest), "--output", str(tmp / "o"), "--checks", "rules", "--quiet"]
    if stage == "train":
        return ["train", "--config", str(REPO / "configs" / "demo-stage1.yaml"), "--data", str(manifest.parent),
                "--out", str(tmp / "o"), "--quiet", *sum((["--set", o] for o in TINY), [])]
    if stage == "eval":
        return ["eval", "retrieval", "--model", str(model_dir), "--manifest", str(manifest), "--quiet"]
    if stage == "search":
        return ["search", "build", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(tmp / "o"),
                "--quiet"]
    return ["manifest", stage, str(manifest)]


@pytest.mark.parametrize("defect", list(NEEDLES))
@pytest.mark.parametrize("stage", ["annotate", "verify", "train", "eval", "search", "check", "info"])
def test_a_bad_manifest_is_one_line_in_every_stage(stage, defect, small_corpus, model_dir, tmp_path, capsys):
    manifest = make_defect(small_corpus, tmp_path / "in", defect)
    first = json.loads(_lines(small_corpus)[0])["id"]
    code = main(stage_args(stage, manifest, tmp_path, model_dir))
    captured = capsys.readouterr()
    if stage == "annotate" and defect in ("no_recording", "duplicate_id"):  # annotate records these and goes on
        assert code == 0, captured.err
        rejects = [json.loads(x) for x in (tmp_path / "o" / "rejects.jsonl").read_text().splitlines()]
        assert [(r["cut_id"], r["code"], r["manifest"]) for r in rejects] == [
            (first, "missing_file" if defect == "no_recording" else "duplicate_id", manifest.name)]
        return
    err = captured.err
    assert code == 2 and err.startswith("clsp: error:") and err.count("\n") == 1, err
    assert str(manifest) in err and NEEDLES[defect].format(first=first) in err, err


def test_missing_or_empty_audio_is_one_line_in_eval(small_corpus, model_dir, tmp_path, capsys):
    cuts = list(read_cuts(split_manifest_path(small_corpus, "test")))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for name, path in [("missing", tmp_path / "nowhere.wav"), ("zero-byte", empty)]:
        raw = cuts[2].to_dict()
        raw["recording"]["sources"][0]["source"] = str(path)
        from lhotse.serialization import deserialize_item

        manifest = write_cuts([*cuts[:2], deserialize_item(raw), *cuts[3:]], tmp_path / name / "cuts_test.jsonl.gz")
        assert main(["eval", "retrieval", "--model", str(model_dir), "--manifest", str(manifest), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"clsp: error: cut '{cuts[2].id}': cannot load audio") and err.count("\n") == 1, err


def test_a_leftover_temporary_file_is_never_an_input(small_corpus, tmp_path):
    """A killed run's temporary manifest lies next to the outputs: the next stage must not read it."""
    from clsp.data.manifest import resolve_inputs
    from clsp.outputs import temp_path

    data = tmp_path / "data"
    real = write_cuts(read_cuts(split_manifest_path(small_corpus, "dev")), data / "cuts_dev.jsonl.gz")
    temp_path(data / "cuts_test.jsonl.gz").write_bytes(real.read_bytes())  # ours: .cuts_test.jsonl.gz.<pid>.tmp
    (data / "cuts_train.jsonl.gz.tmp.jsonl.gz").write_bytes(real.read_bytes())  # an older version's name
    assert resolve_inputs([data], tmp_path / "out") == [real]
    assert not [p for p in data.glob("*.jsonl.gz") if p.name.startswith(".")]  # no *.jsonl.gz glob finds ours
