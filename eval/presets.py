"""Zero-shot tasks as the CLSP paper evaluates them, on manifests written by ``clsp eval prepare``.

Label values are what the preparers store in ``cut.custom``; prompts follow the CLSP evaluation scripts
(``A speaker in a {word} tone.`` with their words, e.g. "fear" for fearful; the merged IEMOCAP happy
class keeps both its "happy" and "excited" prompts, a clip scoring best on either counts as happy).
"""

from __future__ import annotations

from dataclasses import dataclass

from clsp.errors import ClspError

EMOTION_TEMPLATE = "A speaker in a {} tone."
EMOTION_WORDS = {"fearful": "fear"}  # the word CLSP's prompts use where it differs from the label
GENDER_PROMPTS = {"male": ("A male speaker.",), "female": ("A female speaker.",)}
AGE_PROMPTS = {
    "0-19": ("A child or young teenager speaker.",),
    "20-39": ("An adult speaker.",),
    "40-59": ("A middle-aged speaker.",),
    "60+": ("An older or elder speaker.",),
}


@dataclass(frozen=True)
class ZeroShotTask:
    field: str  # cut.custom key holding the label
    prompts: dict[str, tuple[str, ...]]  # label → its prompts, in class order

    @property
    def labels(self) -> list[str]:
        return list(self.prompts)


def emotion_prompts(labels: list[str], extra: dict[str, tuple[str, ...]] | None = None) -> dict[str, tuple[str, ...]]:
    extra = extra or {}
    return {lab: (EMOTION_TEMPLATE.format(EMOTION_WORDS.get(lab, lab)), *extra.get(lab, ())) for lab in labels}


def template_prompts(labels: list[str], template: str) -> dict[str, tuple[str, ...]]:
    """One prompt per label from a template with one ``{}`` (e.g. ``"A {} speaker."``)."""
    if template.count("{}") != 1:
        raise ClspError(f"--template must hold exactly one '{{}}' for the label, got {template!r}")
    return {lab: (template.format(lab),) for lab in labels}


# The synthetic corpus (`clsp synth`): its labels are known, so these probe what a style model learned.
SYNTH_PROMPTS: dict[str, ZeroShotTask] = {
    "synth_gender": ZeroShotTask("gender", dict(GENDER_PROMPTS)),
    "synth_rate": ZeroShotTask("speaking_rate", {"slow": ("A speaker talking slowly.",),
                                                 "fast": ("A speaker talking fast.",)}),
    "synth_pitch": ZeroShotTask("pitch", {"low": ("A speaker with a low pitch.",),
                                          "high": ("A speaker with a high pitch.",)}),
    "synth_loudness": ZeroShotTask("loudness", {"soft": ("A speaker talking softly.",),
                                                "loud": ("A speaker talking loudly.",)}),
}

PRESETS: dict[str, ZeroShotTask] = {
    **SYNTH_PROMPTS,
    "iemocap_emotion": ZeroShotTask("emotion", emotion_prompts(
        ["neutral", "happy", "sad", "angry"], {"happy": ("A speaker in a excited tone.",)})),
    "ravdess_emotion": ZeroShotTask("emotion", emotion_prompts(
        ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"])),
    "ravdess_gender": ZeroShotTask("gender", dict(GENDER_PROMPTS)),
    "cremad_emotion": ZeroShotTask("emotion", emotion_prompts(
        ["neutral", "happy", "sad", "angry", "fearful", "disgust"])),
    "cremad_age": ZeroShotTask("age_bin", dict(AGE_PROMPTS)),
    "cremad_gender": ZeroShotTask("gender", dict(GENDER_PROMPTS)),
}


def preset(name: str) -> ZeroShotTask:
    if name not in PRESETS:
        raise ClspError(f"unknown zero-shot task '{name}' (known: {', '.join(PRESETS)})")
    return PRESETS[name]
