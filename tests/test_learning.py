"""Learning: the demo configs, trained on the demo corpus (``configs/synth-demo.yaml``: espeak-ng and Piper voices
trained on, every flite clip held out) on CPU, give a model that tells gender, speaking rate, pitch and loudness
apart zero-shot and retrieves clips from their global captions well above chance, on the test split's unseen
espeak-ng voices and on the held-out source (an engine never trained on). Figures are printed (run with -s) and
asserted.

The bars are what the demo configs reach over seeds 0-2 (benchmarks/seed_spread.py, 2 cores; a run is
deterministic on one machine) minus a margin; the test trains seed 0. With the Zipformer stacks at 40/80 ms
(``downsampling_factor: [1, 2]``), stage 2 gives, seeds 0/1/2: test split gender 0.66/0.75/0.74, rate
0.70/0.73/0.76, pitch 0.77/0.79/0.75, loudness 0.98/1.0/1.0, R@1 7/4/6x chance; held-out flite gender
0.86/0.71/0.88, rate 0.82/0.83/0.82, pitch 0.84/0.84/0.82, loudness 0.97/0.97/1.0, R@1 7/3/7x chance (with
[2, 4]: held-out rate 0.69/0.79/0.80, pitch 0.75/0.85/0.83, loudness 0.83/0.95/0.97, gender 0.86/0.85/0.87).
Runs are deterministic on one machine but not across machines of the same kind: on another 2-core machine
(2026-12-02) seed 0 gave test gender 0.66, rate 0.76, pitch 0.77, loudness 0.98, R@1 4x chance; held-out gender
0.88, rate 0.79, pitch 0.84, loudness 0.900 (117 of 130, exactly the earlier bar of 0.90), R@1 5x chance; so the
held-out loudness bar is issue 9's 0.85.
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
    "test": {"synth_gender": 0.60, "synth_rate": 0.64, "synth_pitch": 0.68, "synth_loudness": 0.90},
    HELDOUT_SPLIT: {"synth_gender": 0.64, "synth_rate": 0.74, "synth_pitch": 0.75, "synth_loudness": 0.85},
}
R1_OVER_CHANCE = {"test": 3.0, HELDOUT_SPLIT: 2.0}


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
