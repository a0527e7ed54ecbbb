"""Learning: the demo configs, trained on the demo corpus (``configs/synth-demo.yaml``: espeak-ng and Piper voices
trained on, every flite clip held out) on CPU, give a model that tells gender, speaking rate, pitch and loudness
apart zero-shot and retrieves clips from their global captions well above chance, on the test split's unseen
espeak-ng voices and on the held-out source (an engine never trained on). Figures are printed (run with -s) and
asserted.

The bars are what the demo configs reach over seeds 0-2 (benchmarks/seed_spread.py, 2 cores; a run is
deterministic on one machine) minus a margin of about 0.06 (runs vary across machines of one kind: below); the
test trains seed 0. With the speaker branch (``speaker_branch: resemblyzer`` in configs/demo-stage1.yaml) stage
2 gives, seeds 0/1/2, one 2-core machine (2026-12-02): test split gender 0.82/0.88/0.90, rate 0.76/0.70/0.68,
pitch 0.85/0.74/0.74, loudness 0.93/0.84/0.93, R@1 11/11/12x chance; held-out flite gender 0.95/0.81/0.91, rate
0.81/0.81/0.81, pitch 0.92/0.82/0.87, loudness 0.95/0.93/0.96, R@1 7/7/11x chance. Without the branch (the
configs before it, same machine): test gender 0.68/0.77/0.69, loudness 0.98/0.95/1.0; held-out gender
0.85/0.75/0.92, pitch 0.78/0.84/0.82, loudness 0.89/0.97/0.98, R@1 7/2/6x chance: the branch buys held-out
gender and test gender and costs some loudness on the test split's espeak-ng voices (its bar went 0.90 -> 0.78).
Runs are deterministic on one machine but not across machines of the same kind: seed 0 without the branch gave
held-out pitch 0.78 here and 0.84 on another machine, and after stage 3 0.63 against 0.84.
They are below what issue 9 asks for (held-out gender >= 0.95, rate >= 0.90, ...): the test guards what holds
now, the README states the gap.

Stages 1 and 2 are trained once per session (``demo_stages`` in conftest.py, shared with the stage-3 learning
test): about 5 minutes alone on 2 cores, 2-3 times that beside another CPU-heavy job. The test's own time limit
is set far above that, so a loaded machine makes it slow, never red.
"""

import json

import pytest

from clsp.data import read_cuts, split_manifest_path
from clsp.data.manifest import HELDOUT_SPLIT
from clsp.model import CLSPModel
from eval.style import evaluate_style

# split -> probe -> lowest weighted accuracy accepted; and text->speech R@1 over chance
BARS = {
    "test": {"synth_gender": 0.75, "synth_rate": 0.62, "synth_pitch": 0.68, "synth_loudness": 0.78},
    HELDOUT_SPLIT: {"synth_gender": 0.75, "synth_rate": 0.74, "synth_pitch": 0.76, "synth_loudness": 0.86},
}
R1_OVER_CHANCE = {"test": 5.0, HELDOUT_SPLIT: 3.0}


@pytest.mark.slow
@pytest.mark.learning
@pytest.mark.timeout(3600)
def test_demo_configs_learn_speaking_style(demo_stages):
    corpus, models, seconds = demo_stages
    model = CLSPModel.from_pretrained(models[2])
    figures = {}
    for split in BARS:
        cuts = list(read_cuts(split_manifest_path(corpus, split)))
        f = evaluate_style(model, cuts, progress=False)
        r = f["retrieval_global"]
        figures[split] = {**{p: (f[p]["WA"], f[p]["n"]) for p in BARS[split]},
                          "T2S_R@1": r["text_to_speech"]["R@1"], "chance_R@1": r["chance_R@1"]}
    print(json.dumps({"train_seconds": seconds, "figures": figures}, indent=1))
    for split, bars in BARS.items():
        got = figures[split]
        assert got["synth_gender"][1] >= 60 and got["synth_rate"][1] >= 20, (split, got)  # enough clips to mean something
        for probe, bar in bars.items():
            assert got[probe][0] >= bar, (split, probe, got[probe], bar)
        assert got["T2S_R@1"] >= R1_OVER_CHANCE[split] * got["chance_R@1"], (split, got)
