import gzip
import json

import pytest

from clsp.cli import main
from clsp.data import get_captions, load_checked, read_cuts, split_manifest_path, summarize, write_cuts
from clsp.data.manifest import find_split_manifest
from clsp.errors import ManifestError


def test_round_trip_lazy_read_keeps_captions_and_attributes(small_corpus, tmp_path):
    src = split_manifest_path(small_corpus, "train")
    eager = load_checked(src)
    out = write_cuts(eager, tmp_path / "copy.jsonl.gz")
    lazy = read_cuts(out)
    assert lazy.is_lazy
    back = list(lazy)
    assert [c.id for c in back] == [c.id for c in eager]
    for a, b in zip(eager, back):
        assert get_captions(a) == get_captions(b)
        assert a.custom == b.custom
        assert a.supervisions[0].text == b.supervisions[0].text
    # The audio is loadable through plain lhotse, at 16 kHz, with the declared length.
    audio = back[0].load_audio()
    assert audio.shape == (1, back[0].num_samples) and back[0].sampling_rate == 16000


def _rewrite(src, dst, edit):
    with gzip.open(src, "rt") as f:
        rows = [json.loads(line) for line in f]
    edit(rows)
    with gzip.open(dst, "wt") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return rows


def test_missing_audio_file_is_named_with_the_cut(small_corpus, tmp_path):
    bad = tmp_path / "cuts_bad.jsonl.gz"

    def edit(rows):
        rows[2]["recording"]["sources"][0]["source"] = "/nonexistent/a.wav"

    rows = _rewrite(split_manifest_path(small_corpus, "dev"), bad, edit)
    with pytest.raises(ManifestError) as err:
        load_checked(bad)
    assert str(err.value) == f"{bad}: cut '{rows[2]['id']}': audio file '/nonexistent/a.wav' not found"
    load_checked(bad, check_audio=False)  # the schema itself is fine


def test_wrong_caption_schema_is_named_with_the_cut(small_corpus, tmp_path):
    bad = tmp_path / "cuts_bad.jsonl.gz"

    def edit(rows):
        rows[1]["custom"]["captions"][3]["kind"] = "long"

    rows = _rewrite(split_manifest_path(small_corpus, "dev"), bad, edit)
    with pytest.raises(ManifestError, match=rf"cut '{rows[1]['id']}' captions\[3\]: field 'kind'"):
        load_checked(bad)


def test_cli_check_prints_one_line_and_exits_2(small_corpus, tmp_path, capsys):
    bad = tmp_path / "cuts_bad.jsonl.gz"
    _rewrite(split_manifest_path(small_corpus, "dev"), bad, lambda rows: rows[0]["custom"].update(gender=3))
    assert main(["manifest", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "style field 'gender' must be a string" in err and "cut '" in err
    assert main(["manifest", "check", str(split_manifest_path(small_corpus, "dev"))]) == 0


def test_not_json_line_names_file_and_line(tmp_path):
    bad = tmp_path / "cuts_x.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write("{oops\n")
    with pytest.raises(ManifestError, match=r"cuts_x.jsonl.gz:1: not a JSON object"):
        load_checked(bad)


def test_find_split_manifest_lists_what_is_there(small_corpus, tmp_path):
    assert find_split_manifest(small_corpus, "test").name == "cuts_test.jsonl.gz"
    (tmp_path / "cuts_other.jsonl.gz").write_bytes(b"")
    with pytest.raises(ManifestError, match=r"no 'cuts_train.jsonl.gz' manifest for split 'train' \(found: "
                       r"cuts_other.jsonl.gz\)"):
        find_split_manifest(tmp_path, "train")


def test_summarize_counts(small_corpus):
    info = summarize(read_cuts(split_manifest_path(small_corpus, "train")))
    assert info["cuts"] == 36
    assert info["captions"] == {"fine/kept/synth": 36 * 4, "global/kept/synth": 36 * 4}
    assert sum(info["attributes"]["gender"].values()) == 36
