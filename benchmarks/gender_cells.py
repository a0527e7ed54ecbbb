"""Where zero-shot gender goes wrong: accuracy per source and per (gender, pitch level) cell of a labelled
``clsp synth`` corpus, for trained models beside two cue baselines fitted on the training split only.

The corpus aims each clip's pitch at a level relative to its speaker's gender norm, so a low-pitched woman and
a high-pitched man are both at ~150 Hz (measured median F0 of the demo corpus: espeak-ng female-low 150 Hz,
male-high 151 Hz; flite's slt low 149 Hz, its men high 147-153 Hz): in those two cells F0 says nothing about
gender and a model has to hear the voice itself (vocal tract, timbre). This benchmark shows which cue a model
uses. Per split:source and cell it prints the clip count, the measured median F0 (Hz,
:func:`clsp.style.measure.measure_style`), and the fraction of clips whose gender is right for:

- each ``--model NAME=DIR`` (zero-shot with the ``synth_gender`` prompts of :data:`eval.presets.SYNTH_PROMPTS`,
  the figure the demo and the learning test report), and beside it (``NAME:cap``) the same scorer on the text
  embedding of each clip's first global caption instead of its audio: where the captions themselves land on
  the wrong side of the two prompts (a frozen text encoder's prior: "a lady with a deep voice"), a speech
  embedding trained to meet them lands there too;
- ``F0 only``: a logistic regression on log median F0 fitted on the training split (what F0 alone can do);
- ``GE2E probe``: a logistic regression on the frozen GE2E speaker embedding (:mod:`clsp.model.speaker`, the
  optional speaker branch's encoder) fitted on the training split.

Run: .venv/bin/python benchmarks/gender_cells.py --data runs/demo/data --model demo=runs/demo/model
     [--model other=DIR ...] [--splits test heldout]
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from clsp.audio import SAMPLING_RATE
from clsp.data import read_cuts, split_manifest_path
from clsp.model import CLSPModel
from clsp.model.speaker import SpeakerEncoder, speaker_mel_frames
from clsp.style.measure import measure_style
from eval.embed import embed_audio
from eval.presets import SYNTH_PROMPTS
from eval.tasks import pick_caption
from eval.zeroshot import label_scores

GENDER = SYNTH_PROMPTS["synth_gender"]


def clip_cues(cuts: list, encoder: SpeakerEncoder) -> tuple[np.ndarray, np.ndarray]:
    """(N,) log median F0 (NaN where unvoiced) and (N, 256) GE2E embeddings of ``cuts``."""
    f0, voice = [], []
    for cut in cuts:
        audio = cut.resample(SAMPLING_RATE).load_audio()[0]
        hz = measure_style(audio, SAMPLING_RATE).f0_median_hz
        f0.append(math.log(hz) if hz else float("nan"))
        mels = torch.from_numpy(speaker_mel_frames(audio))[None]
        voice.append(encoder(mels, torch.tensor([mels.shape[1]]))[0].numpy())
    return np.array(f0), np.stack(voice)


def zero_shot_female(model: CLSPModel, cuts: list) -> tuple[np.ndarray, np.ndarray]:
    """(N,) bool each: the model's zero-shot gender is "female" from the clip's audio, and from its first global
    caption's text embedding (False for a clip without one)."""
    prompts = [[p] if isinstance(p, str) else list(p) for p in GENDER.prompts.values()]
    female = GENDER.labels.index("female")
    audio = label_scores(model, embed_audio(model, cuts, progress=False), prompts).argmax(dim=1) == female
    texts = [pick_caption(c, "global", "first") for c in cuts]
    has = [i for i, t in enumerate(texts) if t is not None]
    caption = torch.zeros(len(cuts), dtype=torch.bool)
    if has:
        with torch.no_grad():
            text = model.encode_text([texts[i] for i in has])
        caption[has] = label_scores(model, text, prompts).argmax(dim=1) == female
    return audio.numpy(), caption.numpy()


def cell(cut) -> tuple[str, str]:
    custom = cut.custom or {}
    return custom.get("gender"), str(custom.get("pitch") or "-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a clsp synth corpus folder")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=DIR", help="a trained model folder")
    ap.add_argument("--splits", nargs="+", default=["test", "heldout"])
    args = ap.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    torch.set_num_threads(2)

    encoder = SpeakerEncoder()
    encoder.load_weights("resemblyzer")
    train = [c for c in read_cuts(split_manifest_path(args.data, "train")) if (c.custom or {}).get("gender")]
    f0, voice = clip_cues(train, encoder)
    female = np.array([c.custom["gender"] == "female" for c in train])
    voiced = ~np.isnan(f0)
    f0_rule = LogisticRegression().fit(f0[voiced, None], female[voiced])
    probe = LogisticRegression(max_iter=2000).fit(voice, female)
    print(f"fitted on the training split ({len(train)} clips): F0 only says female above "
          f"{math.exp(-f0_rule.intercept_[0] / f0_rule.coef_[0, 0]):.0f} Hz; GE2E probe on 256 dims")

    loaded = {name: CLSPModel.from_pretrained(path).eval() for name, path in models.items()}
    columns = [*(f"{n}{s}" for n in loaded for s in ("", ":cap")), "F0 only", "GE2E probe"]
    for split in args.splits:
        cuts = [c for c in read_cuts(split_manifest_path(args.data, split)) if (c.custom or {}).get("gender")]
        f0, voice = clip_cues(cuts, encoder)
        says = {}
        for name, model in loaded.items():
            says[name], says[f"{name}:cap"] = zero_shot_female(model, cuts)
        says["F0 only"] = np.where(np.isnan(f0), False, f0_rule.predict(np.nan_to_num(f0)[:, None]))
        says["GE2E probe"] = probe.predict(voice)
        truth = np.array([c.custom["gender"] == "female" for c in cuts])
        groups: dict[tuple[str, tuple[str, str]], list[int]] = defaultdict(list)
        for i, c in enumerate(cuts):
            groups[(c.custom.get("source", "-"), cell(c))].append(i)
            groups[(c.custom.get("source", "-"), ("all", ""))].append(i)
        print(f"\n{split}: right gender per cell (clips, median F0)")
        print(f"{'source':8} {'gender':7} {'pitch':8} {'n':>4} {'F0 Hz':>6}" + "".join(f" {c:>11}" for c in columns))
        for (source, (gender, pitch)), rows in sorted(groups.items()):
            rows = np.array(rows)
            hz = np.exp(np.nanmedian(f0[rows])) if np.any(~np.isnan(f0[rows])) else float("nan")
            right = "".join(f" {np.mean(says[c][rows] == truth[rows]):11.3f}" for c in columns)
            print(f"{source:8} {gender:7} {pitch:8} {len(rows):4d} {hz:6.0f}{right}")


if __name__ == "__main__":
    main()
