"""`clsp verify` end to end on the synthetic corpus: statuses, reasons, summary, reuse, determinism, errors."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest

from annotate.testing import judge_engine
from clsp.cli import main
from clsp.config import load_config
from clsp.data.captions import get_captions, update_captions
from clsp.data.manifest import read_cuts, write_cuts
from annotate.engines.base import EngineDown
from clsp.errors import ClspError, ManifestError
from verify.config import VerifyConfig
from verify.pipeline import cut_transcript, format_summary, verify

# caption edits, each breaking one rule: (caption index in the cut, code, edit)
EDITS = [
    (0, "negation", lambda t, tr: t[:-1] + ", with not much energy."),
    (1, "background", lambda t, tr: t[:-1] + " over soft background music."),
    (4, "newline", lambda t, tr: t.replace(". ", ".\n", 1)),
    (5, "too_short", lambda t, tr: t[:90]),
    (6, "transcript", lambda t, tr: t + f" The speaker says: {tr}"),
]


def pending_manifest(small_corpus: Path, out: Path, split: str = "test", edit: bool = True) -> Path:
    """The corpus split with every caption set back to "pending"; with ``edit``, the first 6 cuts get one
    rule-breaking caption each (cycling through EDITS). Captions: 4 global then 4 fine per cut."""
    cuts = []
    for i, cut in enumerate(read_cuts(small_corpus / f"cuts_{split}.jsonl.gz")):
        caps = [c.with_status("pending") for c in get_captions(cut)]
        if edit and i < 6:
            k, _, fn = EDITS[i % len(EDITS)]
            caps[k] = dataclasses.replace(caps[k], text=fn(caps[k].text, cut_transcript(cut)))
        cuts.append(update_captions(cut, lambda c, caps=caps: next(x for x in caps if x.id == c.id)))
    out.mkdir(parents=True, exist_ok=True)
    return write_cuts(cuts, out / f"cuts_{split}.jsonl.gz")


def statuses(path: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {c.id: (c.status, c.reasons) for cut in read_cuts(path) for c in get_captions(cut)}


def rules_cfg(*overrides: str) -> VerifyConfig:
    return load_config(VerifyConfig, None, ["checks=[rules]", *overrides])


def test_rules_pipeline_marks_every_caption(small_corpus, tmp_path):
    src = pending_manifest(small_corpus, tmp_path / "in")
    summary = verify(rules_cfg(), [src], tmp_path / "out", progress=False)
    result = statuses(tmp_path / "out" / src.name)
    n_cuts = len(list(read_cuts(src)))
    assert len(result) == 8 * n_cuts
    rejected = {cid: r for cid, (s, r) in result.items() if s == "rejected"}
    assert set(s for s, _ in result.values()) == {"kept", "rejected"}
    assert len(rejected) == 6
    codes = sorted(r[0].split(":")[1] for r in rejected.values())
    assert codes == sorted(["negation", "background", "newline", "too_short", "transcript", "negation"])
    assert all(len(r) == 1 and r[0].startswith("rules:") for r in rejected.values())
    assert all(r == () for s, r in result.values() if s == "kept")
    assert summary["per_check"]["rules"] == {"checked": 8 * n_cuts, "kept": 8 * n_cuts - 6, "rejected": 6,
                                             "by_code": {"background": 1, "negation": 2, "newline": 1,
                                                         "too_short": 1, "transcript": 1}}
    assert summary["captions"] == {"checked": 8 * n_cuts, "kept": 8 * n_cuts - 6, "rejected": 6, "left_pending": 0,
                                   "not_checked": 0}
    saved = json.loads((tmp_path / "out" / "verify_summary.json").read_text())
    assert saved["per_check"] == summary["per_check"] and saved["manifests"][src.name]["cuts"] == n_cuts
    table = format_summary(summary)
    assert "rules" in table and "negation 2" in table and table.splitlines()[-1].startswith("all")
    # everything but the caption statuses is as it was
    before = {c.id: c for c in read_cuts(src)}
    for cut in read_cuts(tmp_path / "out" / src.name):
        assert cut.to_dict()["custom"].keys() == before[cut.id].to_dict()["custom"].keys()
        assert [c.text for c in get_captions(cut)] == [c.text for c in get_captions(before[cut.id])]


def test_only_pending_captions_of_chosen_kinds_are_checked(small_corpus, tmp_path):
    src = pending_manifest(small_corpus, tmp_path / "in")
    # first pass: only global captions; fine ones stay pending
    verify(rules_cfg("kinds=[global]"), [src], tmp_path / "a", progress=False)
    first = statuses(tmp_path / "a" / src.name)
    assert {s for cid, (s, _) in first.items() if "/fine/" in cid} == {"pending"}
    # second pass on that output: the decided globals are left as they are, fines get checked
    summary = verify(rules_cfg(), [tmp_path / "a" / src.name], tmp_path / "b", progress=False)
    second = statuses(tmp_path / "b" / src.name)
    assert {cid: v for cid, v in second.items() if "/global/" in cid} == \
        {cid: v for cid, v in first.items() if "/global/" in cid}
    assert summary["captions"]["not_checked"] == sum("/global/" in cid for cid in first)
    assert "pending" not in {s for s, _ in second.values()}
    # the synthetic corpus ships captions as "kept": nothing to check unless --recheck
    summary = verify(rules_cfg(), [small_corpus / "cuts_dev.jsonl.gz"], tmp_path / "c", progress=False)
    assert summary["captions"]["checked"] == 0
    summary = verify(rules_cfg("recheck=true"), [small_corpus / "cuts_dev.jsonl.gz"], tmp_path / "d", progress=False)
    assert summary["captions"]["checked"] == summary["captions"]["kept"] > 0


def _manifest_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        return f.read().splitlines()


def test_rerun_reuses_and_is_deterministic(small_corpus, tmp_path):
    src = pending_manifest(small_corpus, tmp_path / "in")
    first = verify(rules_cfg(), [tmp_path / "in"], tmp_path / "out", progress=False)
    assert first["reused"] is False
    stamp = (tmp_path / "out" / src.name).stat().st_mtime_ns
    again = verify(rules_cfg(), [tmp_path / "in"], tmp_path / "out", progress=False)
    assert again["reused"] is True and again["per_check"] == first["per_check"]
    assert (tmp_path / "out" / src.name).stat().st_mtime_ns == stamp
    # the same cuts written again (a new gzip header, as an annotate rerun writes them): still reused
    lines = _manifest_lines(src)
    with gzip.GzipFile(src, "wb", mtime=12345) as f:
        f.write(("\n".join(lines) + "\n").encode())
    assert verify(rules_cfg(), [tmp_path / "in"], tmp_path / "out", progress=False)["reused"] is True
    # another config is another result: not reused
    changed = verify(rules_cfg("rules.fine_min_chars=80"), [tmp_path / "in"], tmp_path / "out", progress=False)
    assert changed["reused"] is False and changed["per_check"]["rules"]["by_code"].get("too_short") is None
    # a fresh run elsewhere gives byte-identical manifest content
    verify(rules_cfg(), [tmp_path / "in"], tmp_path / "out2", progress=False)
    verify(rules_cfg(), [tmp_path / "in"], tmp_path / "out3", progress=False)
    assert _manifest_lines(tmp_path / "out2" / src.name) == _manifest_lines(tmp_path / "out3" / src.name)


def test_llm_sees_only_what_the_rules_kept(small_corpus, tmp_path, judge):  # noqa: F811
    src = pending_manifest(small_corpus, tmp_path / "in")
    # two rule-passing captions the judge rejects
    cuts = list(read_cuts(src))
    cuts[7] = update_captions(cuts[7], lambda c: dataclasses.replace(c, text=c.text[:-1] + " over a cheering crowd.")
                              if c.id.endswith("/0") and c.kind == "global" else c)
    cuts[8] = update_captions(cuts[8], lambda c: dataclasses.replace(c, text=c.text + " An interviewer answers her.")
                              if c.kind == "fine" and c.id.endswith("/0") else c)
    write_cuts(cuts, src)
    server = judge()
    cfg = load_config(VerifyConfig, None, ["checks=[llm, rules]", "llm.seed=3"])
    summary = verify(cfg, [src], tmp_path / "out", engine=judge_engine(server), progress=False)
    n = 8 * len(cuts)
    assert summary["checks"] == ["rules", "llm"]
    assert len(server.log) == n - 6  # the six rule failures never reach the LLM
    assert {b["seed"] for b in server.log} == {3}
    llm = summary["per_check"]["llm"]
    assert llm["checked"] == n - 6 and llm["rejected"] == 2
    assert llm["by_code"] == {"mentions_background": 1, "several_speakers": 1}
    result = statuses(tmp_path / "out" / src.name)
    assert sum(s == "rejected" for s, _ in result.values()) == 8
    assert [r for s, r in result.values() if r and r[0].startswith("llm:")] == [
        ("llm:mentions_background: The caption mentions a crowd around the speaker.",),
        ("llm:several_speakers: An interviewer is a second speaker.",)]
    # run_all_checks: the LLM sees every caption, and rule failures keep both reasons
    server_all = judge()
    cfg = load_config(VerifyConfig, None, ["checks=[rules, llm]", "run_all_checks=true"])
    summary = verify(cfg, [src], tmp_path / "all", engine=judge_engine(server_all), progress=False)
    assert len(server_all.log) == n and summary["per_check"]["llm"]["checked"] == n


def test_unparseable_llm_answers_reject_unless_configured(small_corpus, tmp_path, judge):  # noqa: F811
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    server = judge(garbage_seeds={0, 1})
    cfg = load_config(VerifyConfig, None, ["checks=[rules, llm]", "kinds=[global]", "llm.max_attempts=2"])
    summary = verify(cfg, [src], tmp_path / "out", engine=judge_engine(server), progress=False)
    n = 4 * len(list(read_cuts(src)))
    assert summary["per_check"]["llm"]["by_code"] == {"unparseable": n}
    assert {r for s, r in statuses(tmp_path / "out" / src.name).values() if s == "rejected"} == {
        ("llm:unparseable: no answer after removing the <think> block",)}
    cfg = load_config(VerifyConfig, None, ["checks=[rules, llm]", "kinds=[global]", "llm.max_attempts=2",
                                           "llm.keep_unparseable=true"])
    summary = verify(cfg, [src], tmp_path / "keep", engine=judge_engine(server), progress=False)
    assert summary["per_check"]["llm"]["kept_unparseable"] == n
    assert summary["captions"]["kept"] == n


def test_bad_manifest_names_the_cut(small_corpus, tmp_path, capsys):
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    cuts = list(read_cuts(src))
    bad = cuts[2].with_custom("captions", [{"id": "x", "kind": "medium", "text": "A voice.", "source": {"engine": "e"}}])
    write_cuts([*cuts[:2], bad, *cuts[3:]], src)
    with pytest.raises(ManifestError, match=f"cut '{cuts[2].id}' captions\\[0\\]: field 'kind'"):
        verify(rules_cfg(), [src], tmp_path / "out", progress=False)
    assert main(["verify", "--input", str(src), "--output", str(tmp_path / "out"), "--checks", "rules"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clsp: error: ") and cuts[2].id in err and "\n" not in err
    with pytest.raises(ClspError, match="input not found"):
        verify(rules_cfg(), [tmp_path / "nope.jsonl.gz"], tmp_path / "out", progress=False)


def test_cli(small_corpus, tmp_path, capsys):
    pending_manifest(small_corpus, tmp_path / "in")
    pending_manifest(small_corpus, tmp_path / "in", split="dev", edit=False)
    args = ["verify", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--checks", "rules",
            "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"verify: rules done in ") and "negation 2" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "cuts_dev.jsonl.gz", "cuts_test.jsonl.gz", "verify_summary.json"]
    assert main(args) == 0
    assert "verify: rules reused" in capsys.readouterr().out
    assert main([*args[:5], "--set", "checks=[rules, spelling]"]) == 2
    assert "key 'checks' holds ['spelling']" in capsys.readouterr().err
    assert main([*args[:5], "--checks", "rules,llm", "--engine", "acoustic"]) == 2
    assert "key 'engine' must be an LLM engine" in capsys.readouterr().err


def test_llm_engine_is_started_only_when_needed(small_corpus, tmp_path):
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    # openai engine without base_url: building it fails, which only happens if a caption reaches the llm check
    base = ["checks=[rules, llm]", "kinds=[global]", "engine=openai"]
    summary = verify(load_config(VerifyConfig, None, [*base, "rules.global_min_chars=1000"]), [src],
                     tmp_path / "out", progress=False)
    assert summary["per_check"]["llm"]["checked"] == 0 and summary["captions"]["rejected"] > 0
    with pytest.raises(ClspError, match="the openai engine needs engine_config.openai.base_url"):
        verify(load_config(VerifyConfig, None, base), [src], tmp_path / "out2", progress=False)


def test_an_engine_that_fails_every_request_stops_the_run_and_rejects_nothing(small_corpus, tmp_path, judge,  # noqa: F811
                                                                           capsys):
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    server = judge(route=lambda body, hit: "500")
    cfg = load_config(VerifyConfig, None, ["checks=[llm]", "kinds=[global]", "llm.max_attempts=1",
                                           "llm.keep_unparseable=true"])
    with pytest.raises(EngineDown, match=r"failed each of the first 8 requests, e\.g\. HTTP 500.*nothing was rejected"):
        verify(cfg, [src], tmp_path / "out", engine=judge_engine(server, max_retries=0), progress=False)
    assert server.total < 8 + 2 * 4  # it stopped after the first failures, not after every caption
    assert not (tmp_path / "out" / src.name).exists() and not (tmp_path / "out" / "verify_summary.json").exists()


def test_captions_the_engine_failed_on_stay_pending_with_the_reason(small_corpus, tmp_path, judge):  # noqa: F811
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    victims = [get_captions(c, kind="global")[0].text for c in list(read_cuts(src))[:2]]
    server = judge(route=lambda body, hit: "500" if any(v in json.dumps(body) for v in victims) else "ok")
    cfg = load_config(VerifyConfig, None, ["checks=[llm]", "kinds=[global]", "llm.max_attempts=2"])
    summary = verify(cfg, [src], tmp_path / "out", engine=judge_engine(server, max_retries=0), progress=False)
    result = {cid: v for cid, v in statuses(tmp_path / "out" / src.name).items() if "/global/" in cid}
    pending = {cid: r for cid, (s, r) in result.items() if s == "pending"}
    assert len(pending) == 2 and all(len(r) == 1 and r[0].startswith("llm:engine_error: HTTP 500") for r in pending.values())
    assert {s for s, _ in result.values()} == {"pending", "kept"}  # the engine's failures are nobody's rejection
    assert summary["captions"]["left_pending"] == 2 and summary["per_check"]["llm"]["left_pending_engine_error"] == 2
    assert "engine_error" not in summary["per_check"]["llm"]["by_code"]
    assert "2 left pending" in format_summary(summary)


# ---- the acoustic check inside the pipeline (verify.acoustic is the acoustic helper's) ----

def _swap_first(text: str, pairs: list[tuple[str, str]]) -> str | None:
    for a, b in pairs:
        if f" {a} " in f" {text} ":
            return f" {text} ".replace(f" {a} ", f" {b} ", 1).strip()
    return None


GENDER_SWAP = {"male": [("man", "woman"), ("gentleman", "lady"), ("male", "female"), ("he", "she"), ("his", "her")],
               "female": [("woman", "man"), ("lady", "gentleman"), ("female", "male"), ("she", "he"), ("her", "his")]}


def test_acoustic_check_measures_once_per_cut(small_corpus, tmp_path, monkeypatch):
    import clsp.style.measure as measure

    calls = []
    real = measure.measure_style

    def counting(audio, sampling_rate, transcript=None, *args, **kwargs):  # a spy: the real analysis runs
        calls.append(transcript)
        return real(audio, sampling_rate, transcript, *args, **kwargs)

    monkeypatch.setattr(measure, "measure_style", counting)
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    cuts = list(read_cuts(src))
    # swap the gender words of the first global caption of every cut: the acoustic check must object
    swapped = {}
    edited = []
    for cut in cuts:
        cap = get_captions(cut, kind="global")[0]
        text = _swap_first(cap.text, GENDER_SWAP[cut.custom["gender"]])
        if text:
            swapped[cap.id] = text
        edited.append(update_captions(cut, lambda c, t=text, i=cap.id: dataclasses.replace(c, text=t)
                                      if c.id == i and t else c))
    write_cuts(edited, src)
    assert len(swapped) >= len(cuts) // 2
    cfg = load_config(VerifyConfig, None, ["checks=[rules, acoustic]"])
    summary = verify(cfg, [src], tmp_path / "out", progress=False)
    assert len(calls) == len(cuts)  # once per cut, not once per caption
    assert calls[0] == cut_transcript(cuts[0])
    result = statuses(tmp_path / "out" / src.name)
    flagged = [cid for cid in swapped if result[cid][0] == "rejected"]
    assert all(r.startswith("acoustic:") for cid in flagged for r in result[cid][1])
    # precision first: a swapped gender is rejected where the measurement is sure of the gender, and kept with
    # the reason noted where it is not (this corpus styles some men's pitch into the women's range and back)
    unsure = [cid for cid in swapped if result[cid][0] == "kept"]
    assert len(flagged) >= 0.4 * len(swapped) and len(flagged) + len(unsure) == len(swapped)
    assert all(any(r.startswith("acoustic:uncertain:gender: ") for r in result[cid][1]) for cid in unsure)
    acoustic = summary["per_check"]["acoustic"]
    assert acoustic["checked"] == 8 * len(cuts)
    assert acoustic["uncertain"] >= len(unsure) and acoustic["uncertain:gender"] >= len(unsure)
    assert "uncertain " in format_summary(summary)
    # the corpus' own captions agree with the audio
    originals = [cid for cid in result if cid not in swapped]
    assert sum(result[cid][0] == "kept" for cid in originals) >= 0.9 * len(originals)


def test_unreadable_audio_is_a_recorded_rejection(small_corpus, tmp_path):
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    cuts = list(read_cuts(src))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    bad = cuts[0].to_dict()
    bad["recording"]["sources"][0]["source"] = str(broken)
    from lhotse.serialization import deserialize_item

    write_cuts([deserialize_item(bad), *cuts[1:]], src)
    cfg = load_config(VerifyConfig, None, ["checks=[acoustic]", "kinds=[global]"])
    summary = verify(cfg, [src], tmp_path / "out", progress=False)
    result = statuses(tmp_path / "out" / src.name)
    bad_caps = [v for cid, v in result.items() if cid.startswith(cuts[0].id + "/global/")]
    assert len(bad_caps) == 4
    assert {s for cid, (s, _) in result.items() if "/fine/" in cid} == {"pending"}
    assert all(s == "rejected" and len(r) == 1 and r[0].startswith("acoustic:audio_error: ") for s, r in bad_caps)
    assert summary["per_check"]["acoustic"]["by_code"]["audio_error"] == 4


def test_audio_over_the_acoustic_limit_is_not_loaded_and_its_captions_stay_pending(small_corpus, tmp_path,
                                                                                     monkeypatch):
    import clsp.style.measure as measure

    calls = []
    monkeypatch.setattr(measure, "measure_style", lambda *a, **k: calls.append(a))  # a spy: must not be reached
    src = pending_manifest(small_corpus, tmp_path / "in", edit=False)
    cfg = load_config(VerifyConfig, None, ["checks=[rules, acoustic]", "kinds=[global]", "acoustic_max_audio_s=1"])
    summary = verify(cfg, [src], tmp_path / "out", progress=False)
    assert calls == []
    result = {cid: v for cid, v in statuses(tmp_path / "out" / src.name).items() if "/global/" in cid}
    assert {s for s, _ in result.values()} == {"pending"}
    assert all(len(r) == 1 and r[0].startswith("acoustic:too_long: ") for _, r in result.values())
    assert summary["captions"]["left_pending"] == len(result) == summary["per_check"]["acoustic"]["left_pending_too_long"]
