"""Learning: the demo configs, trained on the 1,000-clip synthetic corpus on CPU, give a model that tells
gender and speaking rate apart on the test split's unseen voices and retrieves clips from their global
captions well above chance. Figures are printed (run with -s to see them) and asserted.

The slowest test of the suite: the whole of stage 1 and stage 2 (about 4.5 minutes alone on 2 cores, 2-3 times
that with another CPU-heavy job beside it). Its own time limit is set far above that, so a loaded machine makes
it slow, never red; the suite-wide limit (pyproject.toml) stays for everything else.
"""

import json
import time
from pathlib import Path

import pytest

from clsp.config import load_config
from clsp.data import read_cuts, split_manifest_path
from clsp.model import CLSPModel
from clsp.synth.corpus import SynthConfig, synthesize_corpus
from clsp.train.config import TrainConfig
from clsp.train.trainer import train
from eval.style import evaluate_style

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "data"
    synthesize_corpus(load_config(SynthConfig, REPO / "configs" / "synth-demo.yaml"), out, progress=False)
    return out


@pytest.mark.slow
@pytest.mark.learning
@pytest.mark.timeout(3600)
def test_demo_configs_learn_speaking_style(demo_corpus, tmp_path):
    t0 = time.monotonic()
    stage1 = train(load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml"), demo_corpus, tmp_path / "s1",
                   progress=False)
    t1 = time.monotonic()
    stage2 = train(load_config(TrainConfig, REPO / "configs" / "demo-stage2.yaml"), demo_corpus, tmp_path / "s2",
                   init=stage1, progress=False)
    t2 = time.monotonic()
    test_cuts = list(read_cuts(split_manifest_path(demo_corpus, "test")))
    figures = evaluate_style(CLSPModel.from_pretrained(stage2), test_cuts, progress=False)
    gender, rate = figures["synth_gender"], figures["synth_rate"]
    retrieval = figures["retrieval_global"]
    t2s = retrieval["text_to_speech"]["R@1"]
    print(json.dumps({"train_seconds": {"stage1": round(t1 - t0, 1), "stage2": round(t2 - t1, 1)},
                      "gender_WA": gender["WA"], "rate_WA": rate["WA"], "pitch_WA": figures["synth_pitch"]["WA"],
                      "loudness_WA": figures["synth_loudness"]["WA"], "global_T2S_R@1": t2s,
                      "chance_R@1": retrieval["chance_R@1"]}, indent=1))
    assert gender["n"] >= 80 and rate["n"] >= 30  # the probes see enough unseen-voice clips to mean something
    assert gender["WA"] >= 0.90
    assert rate["WA"] >= 0.85
    assert t2s >= 5 * retrieval["chance_R@1"]
