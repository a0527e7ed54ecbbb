"""An engine that never works stops the run with one line and a non-zero exit; nothing is rejected for it."""

import json
import sys

import pytest

from annotate.config import AnnotateConfig
from annotate.engines.base import EngineDown, GenerationResult, fail_fast
from annotate.pipeline import annotate
from annotate.testing import FaultServer
from clsp.cli import main
from clsp.config import load_config
from clsp.data.captions import get_captions
from clsp.data.manifest import read_cuts, split_manifest_path
from clsp.errors import ClspError


class EngineFailingToStart:
    """Fault injection: an engine whose first ``generate`` raises (as vLLM does when its model cannot load)."""

    name, model = "failing", "none"

    def generate(self, requests):
        next(iter(requests))
        raise RuntimeError("ActorDiedError: the actor died unexpectedly before finishing this task\\n<traceback>")

    def close(self):
        pass


class ScriptedEngine:
    """Fault injection: answers request i with success or an HTTP 500 error, as scripted."""

    name, model = "scripted", "none"

    def __init__(self, *oks: bool):
        self.oks = oks

    def generate(self, requests):
        for i, ok in enumerate(self.oks):
            yield GenerationResult(f"r{i}", "text" if ok else None, None if ok else f"HTTP 500 ({i})")


def test_fail_fast_holds_back_until_the_engine_has_worked_once():
    mixed = ScriptedEngine(False, False, True, False)
    assert [r.request_id for r in fail_fast(mixed, [], 3, "x")] == ["r0", "r1", "r2", "r3"]
    with pytest.raises(EngineDown, match=r"x: the engine failed each of the first 3 requests, e\.g\. HTTP 500 \(0\)"):
        list(fail_fast(ScriptedEngine(False, False, False, True), [], 3, "x"))
    with pytest.raises(EngineDown, match="first 2 requests"):  # a run shorter than N that failed throughout
        list(fail_fast(ScriptedEngine(False, False), [], 8, "x"))
    assert len(list(fail_fast(ScriptedEngine(False, False), [], 0, "x"))) == 2  # 0: never stop


def test_annotate_with_an_engine_that_fails_to_start_stops_with_one_line(small_corpus, tmp_path):
    manifest = split_manifest_path(small_corpus, "dev")
    with pytest.raises(EngineDown) as err:
        annotate(load_config(AnnotateConfig), [manifest], tmp_path / "out", engine=EngineFailingToStart(),
                 progress=False)
    assert str(err.value).startswith("annotate cuts_dev.jsonl.gz: the engine failed: RuntimeError: ActorDiedError")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out" / manifest.name).exists() and not (tmp_path / "out" / "stats.json").exists()


def test_annotate_against_a_server_that_always_fails(small_corpus, tmp_path, capsys):
    manifest = split_manifest_path(small_corpus, "dev")
    with FaultServer(route=lambda body, hit: "500") as server:
        base = ["annotate", "--input", str(manifest), "--engine", "openai", "--model", "m", "--quiet",
                "--set", f"engine_config.openai.base_url={server.base_url}",
                "--set", "engine_config.openai.max_retries=0"]
        assert main([*base, "--output", str(tmp_path / "a")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "failed each of the first 8 requests, e.g. HTTP 500" in err, err
        assert server.total < 8 + 2 * 8  # stopped early, not after every row
        # without the early stop, the whole run fails and says so (exit 2), keeping its record of failures
        assert main([*base, "--output", str(tmp_path / "b"),
                     "--set", "engine_config.openai.stop_after_failures=0"]) == 2
        err = capsys.readouterr().err
        n_rows = 2 * sum(1 for _ in read_cuts(manifest))
        assert f"every one of the {n_rows} requested rows failed" in err and err.count("\n") == 1, err
    rejects = [json.loads(x) for x in (tmp_path / "b" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == n_rows and {r["code"] for r in rejects} == {"engine_failure"}
    assert json.loads((tmp_path / "b" / "stats.json").read_text())["failures"] == n_rows


def test_verify_with_a_model_it_cannot_get_stops_at_once(small_corpus, tmp_path, capsys):
    """The default checks include the LLM with a hub model; offline it cannot start: one line, nothing judged."""
    manifest = split_manifest_path(small_corpus, "dev")
    assert main(["verify", "--input", str(manifest), "--output", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "engine 'vllm': model 'Qwen/Qwen3-30B-A3B' is not a local folder and cannot be " \
        "fetched" in err, err
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()  # it stopped before Ray started
    assert not (tmp_path / "out" / manifest.name).exists()
    assert {c.status for cut in read_cuts(manifest) for c in get_captions(cut)} == {"kept"}  # the input untouched


def test_a_verify_engine_that_fails_to_start_is_one_line(small_corpus, tmp_path):
    from verify.config import VerifyConfig
    from verify.pipeline import verify

    cfg = load_config(VerifyConfig, None, ["checks=[llm]", "recheck=true"])
    with pytest.raises(ClspError, match=r"^verify \(llm check\): the engine failed: RuntimeError: ActorDiedError"):
        verify(cfg, [split_manifest_path(small_corpus, "dev")], tmp_path / "out", engine=EngineFailingToStart(),
               progress=False)
