from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from clsp.config import load_config
from clsp.errors import ConfigError
from clsp.augment.config import AugmentRunConfig
from clsp.synth.corpus import SynthConfig
from clsp.train.config import TrainConfig
from annotate.config import AnnotateConfig
from verify.config import VerifyConfig
from configs import CONFIGS_DIR, config_path, shipped_configs

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Optim:
    lr: float
    warmup_steps: int = 10


@dataclass
class Run:
    name: str
    optim: Optim
    mode: Literal["a", "b"] = "a"
    tags: list[str] = field(default_factory=list)
    scales: dict[str, float] = field(default_factory=dict)


def write(tmp_path, text):
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_loads_nested_typed_values(tmp_path):
    cfg = load_config(Run, write(tmp_path, "name: x\noptim: {lr: 1e-3}\ntags: [a, b]\nscales: {enc: 0.5}\n"))
    assert cfg.optim.lr == pytest.approx(1e-3) and isinstance(cfg.optim.lr, float)
    assert cfg.optim.warmup_steps == 10 and cfg.tags == ["a", "b"] and cfg.scales == {"enc": 0.5}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: x\noptim: {lr: 1, lrr: 2}\n", "unknown key 'optim.lrr' (expected one of: lr, warmup_steps)"),
        ("name: x\noptim: {warmup_steps: 3}\n", "missing required key 'optim.lr' (float)"),
        ("name: x\noptim: {lr: fast}\n", "key 'optim.lr' expected float, got str 'fast'"),
        ("name: x\noptim: {lr: 1, warmup_steps: 2.5}\n", "key 'optim.warmup_steps' expected int, got float 2.5"),
        ("name: x\noptim: {lr: 1}\nmode: c\n", "key 'mode' expected one of 'a', 'b', got str 'c'"),
        ("optim: {lr: 1}\n", "missing required key 'name' (str)"),
        ("name: x\noptim: [1]\n", "key 'optim' expected a mapping, got list [1]"),
    ],
)
def test_bad_config_gives_one_line_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(Run, path)
    msg = str(err.value)
    assert msg == f"{path}: {expected}"
    assert "\n" not in msg


def test_set_overrides_apply_before_checking(tmp_path):
    path = write(tmp_path, "name: x\noptim: {lr: 1}\n")
    cfg = load_config(Run, path, ["optim.lr=0.25", "tags=[p, q]", "optim.warmup_steps=7"])
    assert cfg.optim.lr == 0.25 and cfg.tags == ["p", "q"] and cfg.optim.warmup_steps == 7
    with pytest.raises(ConfigError, match="unknown key 'optim.nope'"):
        load_config(Run, path, ["optim.nope=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(Run, path, ["optim.lr"])


def test_validate_hook_reports_with_file(tmp_path):
    path = write(tmp_path, "num_clips: 0\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml: key 'num_clips' must be >= 1, got 0"):
        load_config(SynthConfig, path)
    with pytest.raises(ConfigError, match="unknown entries \\['shouting'\\]"):
        load_config(SynthConfig, None, ["emotion_weights={shouting: 1}"])


# Every shipped config is validated (a new config file must be registered here).
SHIPPED = {
    "synth-demo.yaml": SynthConfig,
    "synth-all-sources.yaml": SynthConfig,
    "augment-demo.yaml": AugmentRunConfig,
    "demo-stage1.yaml": TrainConfig,
    "demo-stage2.yaml": TrainConfig,
    "clsp-xlarge-stage1.yaml": TrainConfig,
    "clsp-xlarge-stage2.yaml": TrainConfig,
    "demo-stage3.yaml": TrainConfig,
    "clsp-xlarge-stage3.yaml": TrainConfig,
    "acoustic.yaml": AnnotateConfig,
    "annotate-clsp-captioner.yaml": AnnotateConfig,
    "annotate-demo.yaml": AnnotateConfig,
    "annotate-openai.yaml": AnnotateConfig,
    "annotate-qwen3-omni-instruct.yaml": AnnotateConfig,
    "annotate-transformers-qwen2-audio.yaml": AnnotateConfig,
    "verify-demo.yaml": VerifyConfig,
    "verify-qwen3.yaml": VerifyConfig,
}


def test_every_shipped_config_loads():
    # by name, through the installed `configs` package (tests/test_wheel.py runs this against a built wheel)
    files = shipped_configs()
    assert files, "no configs shipped"
    assert files == sorted(p.name for p in (REPO / "configs").glob("*.yaml")), "package data differs from configs/"
    unregistered = [f for f in files if f not in SHIPPED]
    assert not unregistered, f"register these configs in SHIPPED: {unregistered}"
    for name, cls in SHIPPED.items():
        load_config(cls, name.removesuffix(".yaml"))


def test_shipped_synth_config_equals_defaults():
    assert load_config(SynthConfig, REPO / "configs" / "synth-demo.yaml") == SynthConfig()


def test_shipped_augment_config_equals_defaults():
    assert load_config(AugmentRunConfig, REPO / "configs" / "augment-demo.yaml") == AugmentRunConfig()


@pytest.mark.parametrize("override, expected", [
    ("heldout_source=piper", "key 'heldout_source' must be one of the sources"),
    ("sources={festivus: {weight: 1}}", "key 'sources' has unknown entries ['festivus']"),
    ("sources.espeak.weight=0", "key 'sources.espeak.weight' must be > 0"),
    ("augment.tempo.factor_range=[2.0, 1.0]", "key 'augment.tempo.factor_range' must be [low, high]"),
    ("augment.codec.codecs=[amr]", "key 'augment.codec.codecs' must list some of"),
])
def test_bad_synth_keys_name_the_key(override, expected):
    cfg = ["sources={espeak: {weight: 1}, flite: {weight: 1}}", "heldout_source=flite"]
    with pytest.raises(ConfigError) as err:
        load_config(SynthConfig, None, [*cfg, override])
    assert expected in str(err.value)


def test_a_shipped_config_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for ref in ("annotate-demo", "annotate-demo.yaml", "configs/annotate-demo.yaml"):
        assert config_path(ref) == CONFIGS_DIR / "annotate-demo.yaml"
    assert config_path("configs/prompts/verifier.v1.yaml") == CONFIGS_DIR / "prompts" / "verifier.v1.yaml"
    assert load_config(SynthConfig, "configs/synth-demo.yaml") == SynthConfig()
    # a user's file wins over the shipped one of the same name; other folders are never redirected
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "synth-demo.yaml").write_text("num_clips: 7\n")
    assert load_config(SynthConfig, "configs/synth-demo.yaml").num_clips == 7
    assert config_path("elsewhere/synth-demo.yaml") == Path("elsewhere/synth-demo.yaml")


def test_an_unknown_config_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(SynthConfig, "synth-demoo")
    assert str(err.value).startswith("synth-demoo: config file not found (nor a shipped config: acoustic, ")
    assert "synth-demo," in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"^/nope/x.yaml: config file not found$"):
        load_config(SynthConfig, "/nope/x.yaml")
