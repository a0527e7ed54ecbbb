"""`clsp annotate` end to end with a real engine (the openai engine against the fault-injection server):
output layout, rejects, stats, resume (incl. a SIGKILL mid-run), retried failures, VAD pieces, the CLI."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from annotate.config import AnnotateConfig
from annotate.pipeline import annotate
from annotate.testing import FaultServer, audio_digest, make_bad_manifest, make_long_manifest
from clsp.cli import main
from clsp.config import load_config
from clsp.data.captions import get_captions
from clsp.data.manifest import load_checked, read_cuts, write_cuts

KEY = "sk-pipeline-93be0c41secret"
REPO = Path(__file__).resolve().parents[1]
SPLITS = ("cuts_train.jsonl.gz", "cuts_dev.jsonl.gz", "cuts_test.jsonl.gz")


def settings(server: FaultServer, *extra: str) -> list[str]:
    return ["engine=openai", "engine_config.openai.model=served-model",
            f"engine_config.openai.base_url={server.base_url}", "engine_config.openai.api_key_env=CLSP_PIPE_KEY",
            "engine_config.openai.max_retries=1", "engine_config.openai.backoff_base_s=0.01",
            "engine_config.openai.backoff_max_s=0.02", *extra]


def config(server: FaultServer, *extra: str) -> AnnotateConfig:
    return load_config(AnnotateConfig, None, settings(server, *extra))


def new_captions(cut) -> list:
    return get_captions(cut, engine="openai")


def rows_of(out: Path) -> Counter:
    """(cut id, kind, seed) of every openai caption in every output manifest."""
    rows: Counter = Counter()
    for m in sorted(out.glob("cuts_*.jsonl.gz")):
        for cut in read_cuts(m):
            for c in new_captions(cut):
                rows[(cut.id, c.kind, c.source.seed)] += 1
    return rows


def shard_caption_ids(out: Path) -> list[str]:
    ids = []
    for shard in (out / "shards").rglob("*.jsonl"):
        for line in shard.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue  # a torn last line
            ids += [c["id"] for c in d["custom"].get("captions", [])]
    return ids


def read_rejects(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]


def all_text(out: Path) -> str:
    text = ""
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            text += (gzip.decompress(data) if p.name.endswith(".gz") else data).decode("utf-8", "replace")
    return text


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("CLSP_PIPE_KEY", KEY)


def test_annotate_end_to_end_rejects_failures_and_resume(small_corpus, tmp_path):
    bad_manifest, expected = make_bad_manifest(small_corpus, tmp_path / "bad")
    out = tmp_path / "out"
    failing: dict[str, str] = {}

    def route(body, hit):  # every request of the first clip seen fails (HTTP 500)
        digest = audio_digest(body)
        failing.setdefault("digest", digest)
        return "500" if digest == failing["digest"] else "ok"

    with FaultServer(route=route, key=KEY) as server:
        cfg = config(server, "views=2", "engine_config.openai.max_concurrency=4")
        stats = annotate(cfg, [small_corpus, bad_manifest], out, progress=False)
        first_hits = server.total
    rates = {sf.info(io.BytesIO(base64.b64decode(b["messages"][-1]["content"][0]["input_audio"]["data"]))).samplerate
             for b in server.log}
    assert rates == {16000}  # the 22.05 kHz clip too was sent at 16 kHz

    n_corpus = sum(1 for m in SPLITS for _ in read_cuts(small_corpus / m))
    accepted_bad = [k for k, v in expected.items() if v == "ok"]
    n_clips = n_corpus + len(accepted_bad)
    assert sorted(p.name for p in out.glob("cuts_*.jsonl.gz")) == sorted([*SPLITS, "cuts_bad.jsonl.gz"])
    # rejects: each bad cut once, with its reason; the failing clip's 4 rows as engine failures
    rejects = read_rejects(out)
    assert all(set(r) >= {"cut_id", "manifest", "code", "message"} for r in rejects)  # as the README says
    audio_rejects = {r["cut_id"]: r["code"] for r in rejects if r["code"] != "engine_failure"}
    assert audio_rejects == {k: v for k, v in expected.items() if v != "ok"}
    assert {r["manifest"] for r in rejects if r["code"] != "engine_failure"} == {"cuts_bad.jsonl.gz"}
    engine_rejects = [r for r in rejects if r["code"] == "engine_failure"]
    assert len(engine_rejects) == 4 and len({r["cut_id"] for r in engine_rejects}) == 1
    assert {(r["kind"], r["seed"]) for r in engine_rejects} == {(k, s) for k in ("global", "fine") for s in (0, 1)}
    assert all("HTTP 500" in r["message"] and "2 attempt" in r["message"] for r in engine_rejects)
    failed_cut = engine_rejects[0]["cut_id"]
    assert first_hits == (n_clips - 1) * 4 + 4 * 2  # max_retries=1: the failing rows were tried twice
    # outputs: accepted cuts only, old captions kept, 4 new pending captions each (the failing clip: none)
    rows = rows_of(out)
    assert set(rows.values()) == {1}
    assert len(rows) == (n_clips - 1) * 4
    for m in [*SPLITS]:
        src = {c.id: c for c in read_cuts(small_corpus / m)}
        outs = load_checked(out / m)  # the output is a valid data-model manifest
        assert [c.id for c in outs] == list(src)  # same cuts, same order
        for cut in outs:
            assert len(get_captions(cut, engine="synth")) == len(get_captions(src[cut.id]))
            new = new_captions(cut)
            assert len(new) == (0 if cut.id == failed_cut else 4)
            for c in new:
                assert c.status == "pending" and c.source.model == "served-model"
                assert c.source.prompt_id == "clsp-style@1" and c.id.startswith(f"{cut.id}/{c.kind}/openai/")
    assert [c.id for c in read_cuts(out / "cuts_bad.jsonl.gz")] == accepted_bad
    assert stats["clips"] == n_clips and stats["failures"] == 4 and stats["captions_written"] == (n_clips - 1) * 4
    assert stats["rejects"]["engine_failure"] == 4
    assert stats["rejects"]["missing_file"] == 1 and stats["audio_hours_per_engine_hour"] > 0
    assert json.loads((out / "stats.json").read_text())["rows"] == stats["rows"]

    # rerun with a healthy server: only the 4 failed rows are requested; the failures are gone
    with FaultServer(key=KEY) as server:
        stats2 = annotate(config(server, "views=2"), [small_corpus, bad_manifest], out, progress=False)
        assert server.total == 4
    assert stats2["rows"]["requested"] == 4 and stats2["failures"] == 0
    assert not [r for r in read_rejects(out) if r["code"] == "engine_failure"]
    rows = rows_of(out)
    assert len(rows) == n_clips * 4 and set(rows.values()) == {1}

    # the same command again: nothing to do, the same output
    before = {m: [c.to_dict() for c in read_cuts(out / m)] for m in SPLITS}
    shards_before = sorted((out / "shards").rglob("*.jsonl"))
    with FaultServer(key=KEY) as server:
        stats3 = annotate(config(server, "views=2"), [small_corpus, bad_manifest], out, progress=False)
        assert server.total == 0
    assert sorted((out / "shards").rglob("*.jsonl")) == shards_before  # nothing to write: no new shard
    assert stats3["rows"]["already_done"] == stats3["rows"]["planned"] - len(expected) * 4 + len(accepted_bad) * 4
    assert {m: [c.to_dict() for c in read_cuts(out / m)] for m in SPLITS} == before

    # one more view: only seed 2 is requested
    with FaultServer(key=KEY) as server:
        annotate(config(server, "views=3"), [small_corpus, bad_manifest], out, progress=False)
        assert server.total == n_clips * 2 and {b["seed"] for b in server.log} == {2}
    rows = rows_of(out)
    assert len(rows) == n_clips * 6 and set(rows.values()) == {1}
    assert len(shard_caption_ids(out)) == len(set(shard_caption_ids(out))) == n_clips * 6  # no caption twice
    assert KEY not in all_text(out)


def test_header_secrets_stay_out_of_stats(small_corpus, tmp_path):
    with FaultServer() as server:
        cfg = config(server, "kinds=[global]", "engine_config.openai.headers={X-Api-Key: hdr-secret-77}")
        annotate(cfg, [small_corpus / "cuts_dev.jsonl.gz"], tmp_path, progress=False)
        assert all(h["X-Api-Key"] == "hdr-secret-77" for h in server.headers)  # sent
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["config"]["engine_config"]["openai"]["headers"] == {"X-Api-Key": "***"}
    assert "hdr-secret-77" not in all_text(tmp_path) and KEY not in all_text(tmp_path)


def test_annotated_output_can_be_annotated_again_without_duplicates(small_corpus, tmp_path):
    with FaultServer() as server:
        annotate(config(server, "kinds=[global]"), [small_corpus / "cuts_dev.jsonl.gz"], tmp_path / "a", progress=False)
        # the first output is the input of a second run into another directory: its captions count as done
        stats = annotate(config(server, "kinds=[global,fine]"), [tmp_path / "a"], tmp_path / "b", progress=False)
    n = sum(1 for _ in read_cuts(small_corpus / "cuts_dev.jsonl.gz"))
    assert stats["rows"]["already_done"] == n and stats["rows"]["requested"] == n
    rows = rows_of(tmp_path / "b")
    assert len(rows) == 2 * n and set(rows.values()) == {1}


def test_long_recordings_are_split_with_vad_or_rejected(small_corpus, tmp_path):
    manifest, duration = make_long_manifest(small_corpus, tmp_path / "long")
    with FaultServer() as server:
        stats = annotate(config(server, "kinds=[fine]"), [manifest], tmp_path / "o1",
                         progress=False)
        hits = server.total
        again = annotate(config(server, "kinds=[fine]"), [manifest], tmp_path / "o1",
                         progress=False)
        assert server.total == hits  # every piece was done: VAD is not even rerun
    pieces = list(read_cuts(tmp_path / "o1" / "cuts_long.jsonl.gz"))
    assert len(pieces) >= 3 and hits == len(pieces) and stats["clips"] == len(pieces)
    assert again["rows"]["already_done"] == len(pieces) and again["rows"]["requested"] == 0
    for i, p in enumerate(pieces):
        assert p.id == f"long-vad{i:03d}" and p.duration <= 30.0 and p.custom["vad"]["parent"] == "long"
        [cap] = new_captions(p)
        assert cap.kind == "fine" and cap.id.startswith(f"long-vad{i:03d}/fine/")
    assert sum(p.duration for p in pieces) < duration

    with FaultServer() as server:
        stats = annotate(config(server, "vad.enabled=false"), [manifest], tmp_path / "o2", progress=False)
        assert server.total == 0
    assert stats["rejects"] == {"too_long": 1} and stats["clips"] == 0
    [r] = read_rejects(tmp_path / "o2")
    assert r["cut_id"] == "long" and r["code"] == "too_long" and "max_duration_s" in r["message"]


def test_requests_are_fed_lazily(small_corpus, tmp_path):
    """The request stream reads the manifest only a few cuts ahead of the engine."""
    from annotate.pipeline import ManifestRun, RejectLog, RunStats
    from annotate.prompts import load_prompt
    from annotate.rows import RowPlan
    from annotate.vad import SileroSplitter

    cfg = load_config(AnnotateConfig, None, ["prefetch=3", "audio_workers=1"])
    plan = RowPlan("openai", "m", "clsp-style@1", ("global", "fine"), (0,))
    rejects = RejectLog(tmp_path / "rejects.jsonl")
    run = ManifestRun(cfg, small_corpus / "cuts_train.jsonl.gz", tmp_path, plan, load_prompt("clsp-style"), True,
                      "run0", rejects, RunStats(), SileroSplitter(cfg.vad, 30.0))
    read = []

    def cuts():
        for cut in read_cuts(small_corpus / "cuts_train.jsonl.gz"):
            read.append(cut.id)
            yield cut

    stream = run.requests(cuts())
    first = next(stream)
    assert first.audio is not None and first.meta["cut_id"] == read[0] and first.meta["transcript"]
    assert len(read) <= cfg.prefetch + 1
    stream.close()
    run.finish()
    rejects.close()


def _count_shard_lines(out: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in (out / "shards").rglob("*.jsonl")) if out.exists() else 0


def test_sigkill_mid_run_then_rerun_writes_every_row_exactly_once(small_corpus, tmp_path):
    out = tmp_path / "out"
    with FaultServer(key=KEY, latency_s=0.05) as server:
        cmd = [sys.executable, "-m", "clsp", "annotate", "--input", str(small_corpus), "--output", str(out),
               "--engine", "openai", "--model", "served-model", "--views", "2", "--kinds", "global,fine",
               "--quiet", *[a for s in settings(server, "engine_config.openai.max_concurrency=2") for a in ("--set", s)]]
        env = {**os.environ, "CLSP_PIPE_KEY": KEY}
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while _count_shard_lines(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        _, err1 = proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        done_before = shard_caption_ids(out)
        assert done_before and len(done_before) == len(set(done_before))
        hits_before = server.total

        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        rerun_hits = server.total - hits_before

    n = sum(1 for m in SPLITS for _ in read_cuts(small_corpus / m))
    rows = rows_of(out)
    assert len(rows) == n * 4 and set(rows.values()) == {1}  # every (cut, kind, seed) exactly once
    ids = shard_caption_ids(out)
    assert len(ids) == len(set(ids)) == n * 4  # never a caption written twice, even across the kill
    assert rerun_hits == n * 4 - len(done_before)  # the rerun asked only for rows not yet written
    assert "annotate:" in result.stdout and "already done" in result.stdout
    for text in (result.stdout, result.stderr, err1.decode(), all_text(out)):
        assert KEY not in text


def test_cli_prints_a_summary_and_one_line_errors(small_corpus, tmp_path, capsys):
    with FaultServer() as server:
        code = main(["annotate", "--input", str(small_corpus / "cuts_dev.jsonl.gz"), "--output", str(tmp_path / "o"),
                     "--engine", "openai", "--model", "m", "--views", "1", "--kinds", "fine", "--quiet",
                     "--set", f"engine_config.openai.base_url={server.base_url}"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "annotate:" in printed and "captions written" in printed and "audio-hours per engine-hour" in printed
    cut = next(iter(read_cuts(tmp_path / "o" / "cuts_dev.jsonl.gz")))
    assert [c.kind for c in new_captions(cut)] == ["fine"]

    for argv, needle in [
        (["--input", str(tmp_path / "missing.jsonl.gz")], "input not found"),
        (["--input", str(small_corpus), "--kinds", "fine,long"], "kinds"),
        (["--input", str(small_corpus), "--engine", "openai"], "needs engine_config.openai.base_url"),
        (["--input", str(small_corpus), "--engine", "openai", "--set", "engine_config.openai.base_url=http://x/v1"],
         "needs a model"),
        (["--input", str(small_corpus), "--set", "prompt=nosuch"], "prompt 'nosuch' not found"),
        (["--input", str(tmp_path / "o")], "lies in the output directory"),
    ]:
        code = main(["annotate", *argv, "--output", str(tmp_path / "o"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("clsp: error:") and needle in err and err.count("\n") == 1, err


def test_a_repeated_cut_id_is_annotated_once_and_reported(small_corpus, tmp_path):
    cuts = list(read_cuts(small_corpus / "cuts_dev.jsonl.gz"))[:3]
    manifest = write_cuts([cuts[0], cuts[1], cuts[0], cuts[2]], tmp_path / "in" / "cuts_dup.jsonl.gz")
    with FaultServer() as server:
        stats = annotate(config(server, "kinds=[global]"), [manifest], tmp_path / "o", progress=False)
        assert server.total == 3
    assert [c.id for c in read_cuts(tmp_path / "o" / "cuts_dup.jsonl.gz")] == [c.id for c in cuts]
    assert stats["rejects"] == {"duplicate_id": 1} and read_rejects(tmp_path / "o")[0]["cut_id"] == cuts[0].id


def test_demo_config_runs_the_acoustic_engine(small_corpus, tmp_path, capsys):
    """configs/annotate-demo.yaml through the CLI: the offline acoustic captioner, two views per kind."""
    manifest = small_corpus / "cuts_test.jsonl.gz"
    assert main(["annotate", "--config", str(REPO / "configs" / "annotate-demo.yaml"), "--input", str(manifest),
                 "--output", str(tmp_path), "--quiet"]) == 0
    assert "engine acoustic" in capsys.readouterr().out
    cuts = list(read_cuts(tmp_path / manifest.name))
    assert len(cuts) == sum(1 for _ in read_cuts(manifest))
    for cut in cuts:
        caps = get_captions(cut, engine="acoustic")
        assert sorted((c.kind, c.source.seed) for c in caps) == [("fine", 0), ("fine", 1), ("global", 0), ("global", 1)]
        assert all(c.source.prompt_id == "acoustic@1" and c.status == "pending" and c.text for c in caps)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["failures"] == 0 and stats["captions_written"] == 4 * len(cuts)
