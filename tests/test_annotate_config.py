"""Annotate config, prompt templates (CLSP's rules, versions, Captioner mode) and row expansion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotate.config import AnnotateConfig
from annotate.engines.configs import AcousticEngineConfig, LLMEngineConfig, OpenAIEngineConfig, VLLMEngineConfig
from annotate.engines.registry import ENGINES, build_engine, engine_names, llm_engine_names, load_run_config
from annotate.prompts import available_prompts, load_prompt, tag_values
from annotate.rows import RowPlan, clean_output, make_request
from clsp.config import load_config
from clsp.data.captions import CaptionSource, make_caption_id
from clsp.data.manifest import read_cuts
from clsp.errors import ClspError, ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("annotate-*.yaml")), ids=lambda p: p.name)
def test_every_shipped_annotate_config_loads_with_its_prompt(path):
    cfg = load_config(AnnotateConfig, path)
    template = load_prompt(cfg.prompt)
    if cfg.engine != "acoustic":
        template.check_kinds(cfg.kinds)
    assert cfg.seeds == list(range(cfg.seed, cfg.seed + cfg.views))


def test_config_errors_are_one_line_and_name_the_key(tmp_path):
    bad = tmp_path / "a.yaml"
    for text, needle in [("kinds: [global, long]\n", "kinds"), ("views: 0\n", "views"),
                         ("engine: gpt\n", "engine"), ("vad: {threshold: 2}\n", "vad.threshold"),
                         ("engine_config: {max_retry: 3}\n", "engine_config.max_retry"),
                         ("sampling: {top_p: 0}\n", "sampling")]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=needle) as e:
            load_config(AnnotateConfig, bad)
        assert "\n" not in str(e.value)


def test_prompts_follow_clsp_rules_and_are_versioned():
    assert {"clsp-style@1", "captioner@1"} <= set(available_prompts())
    p = load_prompt("clsp-style")
    assert p.id == "clsp-style@1" and load_prompt("clsp-style@1").id == p.id
    system = p.system.lower()
    for rule in ("never quote", "background", "audio quality", "absent", "do not guess", "one speaker"):
        assert rule in system, rule
    g, f = p.messages("global"), p.messages("fine")
    assert g[0]["role"] == "system" and g[1]["content"][0] == {"type": "audio"}
    assert "one fluent sentence" in g[1]["content"][1]["text"] and "128 and 768" in f[1]["content"][1]["text"]
    with pytest.raises(ConfigError, match="not found"):
        load_prompt("clsp-style@9")


def test_tag_block_is_optional_and_never_carries_the_transcript(small_corpus):
    cut = next(c for c in read_cuts(small_corpus / "cuts_dev.jsonl.gz") if "speaking_rate" in c.custom)
    p = load_prompt("clsp-style@1")
    tags = tag_values(cut, ["accent", "speaking_rate", "emotion"])
    assert tags == {"speaking_rate": cut.custom["speaking_rate"], "emotion": cut.custom["emotion"]}  # no accent
    text = p.messages("fine", tags)[1]["content"][1]["text"]
    assert f"speaking rate: {cut.custom['speaking_rate']}" in text and "Reference tags" in text
    assert "Reference tags" not in p.messages("fine")[1]["content"][1]["text"]
    plan = RowPlan("openai", "m", p.id, ("global", "fine"), (0,))
    for row in plan.rows(cut.id):
        req = make_request(row, cut, np.zeros(160, np.float32), p, load_config(AnnotateConfig).sampling, p.id,
                           ["speaking_rate"])
        transcript = cut.supervisions[0].text
        assert req.meta["transcript"] == transcript
        assert transcript not in str(req.messages) and transcript.split(".")[0] not in str(req.messages)


def test_captioner_mode_is_audio_only_and_serves_fine_captions():
    c = load_prompt("captioner")
    assert c.id == "captioner@1" and c.messages("fine") == ({"role": "user", "content": [{"type": "audio"}]},)
    c.check_kinds(["fine"])
    with pytest.raises(ClspError, match="global"):
        c.check_kinds(["global", "fine"])


def test_prompt_file_must_match_its_name(tmp_path):
    (tmp_path / "mine.v2.yaml").write_text("name: mine\nversion: 3\nuser: {global: Describe.}\n")
    with pytest.raises(ConfigError, match="does not match"):
        load_prompt("mine", prompts_dir=tmp_path)
    (tmp_path / "mine.v2.yaml").write_text("name: mine\nversion: 2\nuser: {global: Describe.}\ntag_block: x\n")
    with pytest.raises(ConfigError, match="tags"):
        load_prompt("mine@2", prompts_dir=tmp_path)


def test_rows_cover_kinds_times_seeds_with_stable_ids():
    cfg = load_config(AnnotateConfig, None, ["views=3", "seed=10", "kinds=[fine,global]"])
    plan = RowPlan("vllm", "Qwen/X", "clsp-style@1", tuple(cfg.kinds), tuple(cfg.seeds))
    rows = plan.rows("cut-1")
    assert [(r.kind, r.seed) for r in rows] == [(k, s) for k in ("fine", "global") for s in (10, 11, 12)]
    assert rows[0].caption_id == make_caption_id("cut-1", "fine", CaptionSource("vllm", "Qwen/X", "clsp-style@1", 10))
    assert len({r.caption_id for r in rows}) == 6 and plan.rows("cut-1") == rows
    cap = plan.caption(rows[0], "A calm voice.")
    assert cap.status == "pending" and cap.source.seed == 10 and cap.id == rows[0].caption_id


def test_model_output_cleaning():
    assert clean_output("<think>\nhmm, the pitch...\n</think>\n\nA low, calm voice. ") == "A low, calm voice."
    assert clean_output(None) == "" and clean_output("  plain ") == "plain"


def test_unknown_engine_lists_the_choices():
    with pytest.raises(ClspError, match="vllm, openai, transformers, acoustic"):
        build_engine("gpt", AcousticEngineConfig())


@pytest.mark.parametrize("override, needle", [
    ("engine_config.vllm.base_url=http://x/v1", "unknown key 'engine_config.vllm.base_url' (expected one of: "),
    ("engine_config.openai.max_retry=3", "unknown key 'engine_config.openai.max_retry' (expected one of: "),
    ("engine_config.acoustic.model=m", "unknown key 'engine_config.acoustic.model' (expected one of: "),
    ("engine_config.gpt.model=m", "unknown key 'engine_config.gpt' (expected one of: acoustic, openai, "),
    # the old flat keys say where they went
    ("engine_config.base_url=http://x/v1", "unknown key 'engine_config.base_url': it moved to "
                                           "'engine_config.openai.base_url'"),
    ("engine_config.model=m", "unknown key 'engine_config.model': it moved to 'engine_config.<engine>.model'"),
    ("engine_config.vllm.dtype=half", "key 'engine_config.vllm.dtype' expected one of 'auto'"),
    ("engine_config.vllm.replicas=0", "key 'engine_config.vllm.replicas' must be >= 1, got 0"),
    ("engine_config.openai.max_concurrency=0", "key 'engine_config.openai.max_concurrency' must be >= 1"),
    ("engine_config.transformers.stop_after_failures=-1",
     "key 'engine_config.transformers.stop_after_failures' must be >= 0"),
])
def test_each_engine_section_takes_only_its_own_keys(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(AnnotateConfig, None, ["engine=vllm", override])
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_the_selected_engine_gets_its_own_section():
    cfg = load_config(AnnotateConfig, None, ["engine=openai", "engine_config.openai.base_url=http://x/v1",
                                             "engine_config.vllm.batch_size=3"])
    assert isinstance(cfg.engine_settings, OpenAIEngineConfig) and cfg.engine_settings.base_url == "http://x/v1"
    assert cfg.engine_config["vllm"].batch_size == 3 and cfg.engine_config.vllm is cfg.engine_config["vllm"]
    assert isinstance(load_config(AnnotateConfig).engine_settings, AcousticEngineConfig)


def test_the_registry_is_the_only_list_of_engines():
    import argparse

    from annotate.cli import add_parsers
    from verify.config import VerifyConfig

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers())
    annotate_parser = parser._subparsers._group_actions[0].choices["annotate"]
    [engine_flag] = [a for a in annotate_parser._actions if "--engine" in a.option_strings]
    assert tuple(engine_flag.choices) == engine_names() == tuple(ENGINES)
    assert [f for f in vars(AnnotateConfig().engine_config)] == list(engine_names())
    assert set(llm_engine_names()) < set(engine_names()) and "acoustic" not in llm_engine_names()
    assert [f for f in vars(VerifyConfig().engine_config)] == list(llm_engine_names())
    for name in engine_names():  # each section is its engine's settings class, an LLM's holding a model
        assert type(AnnotateConfig().engine_config[name]) is ENGINES[name].config_class
        assert issubclass(ENGINES[name].config_class, LLMEngineConfig) == (name in llm_engine_names())
    with pytest.raises(ConfigError, match="key 'engine' must be one of vllm, openai, transformers, acoustic"):
        load_config(AnnotateConfig, None, ["engine=gpt"])


def test_model_flag_goes_to_the_selected_engine(tmp_path):
    from verify.config import VerifyConfig

    cfg = load_run_config(AnnotateConfig, REPO / "configs" / "annotate-openai.yaml", [], model="other")
    assert cfg.engine_config.openai.model == "other" and cfg.engine_config.vllm.model is None
    cfg = load_run_config(AnnotateConfig, None, ["engine=vllm"], model="m")
    assert isinstance(cfg.engine_settings, VLLMEngineConfig) and cfg.engine_settings.model == "m"
    cfg = load_run_config(VerifyConfig, REPO / "configs" / "verify-qwen3.yaml", ["engine=transformers"], model="m")
    assert cfg.engine_config.transformers.model == "m" and cfg.engine_config.vllm.model == "Qwen/Qwen3-30B-A3B"
    with pytest.raises(ClspError, match="--model: the acoustic engine takes no model"):
        load_run_config(AnnotateConfig, None, ["engine=acoustic"], model="m")


def test_engine_configs_load_no_engine_library():
    import subprocess
    import sys

    code = ("import sys; import annotate.config, verify.config, annotate.cli; "
            "from clsp.config import load_config; "
            "load_config(annotate.config.AnnotateConfig, 'configs/annotate-qwen3-omni-instruct.yaml'); "
            "print(sorted(m for m in ('vllm', 'ray', 'transformers', 'httpx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
