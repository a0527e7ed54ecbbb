"""A scripted checklist judge behind the FAULT-INJECTION server, for the verifier's tests only.

It is not a model: a phrase in the caption sets one checklist item (:data:`JUDGE`), every other item keeps
its :data:`GOOD` value, and the answer is written as a reasoning model writes it (a thinking part, then
fenced JSON). Seeds in ``garbage_seeds`` get :data:`GARBAGE`, a reasoning model cut off mid-thought.
Start it with the ``judge`` fixture (``tests/conftest.py``) and talk to it through :func:`judge_engine`.
"""

from __future__ import annotations

import json

from annotate.testing.fault_server import FaultServer

# The verdict for a caption that describes only the voice.
GOOD = {"mentions_background": False, "states_absence": False, "contains_transcript": False,
        "several_speakers": False, "describes_voice": True, "reason": "Describes only the voice."}
JUDGE = {
    "crowd": ("mentions_background", "The caption mentions a crowd around the speaker."),
    "lacks": ("states_absence", "It states that the voice lacks something."),
    "talks about": ("contains_transcript", "It reports what the speaker talks about."),
    "interviewer": ("several_speakers", "An interviewer is a second speaker."),
    "this clip": ("describes_voice", "It describes the clip's topic, not the voice."),
}
GARBAGE = "<think>The caption describes a deep voice, so I would say"  # a reasoning model cut off mid-thought


def judge_text(body: dict, garbage_seeds: frozenset[int] = frozenset()) -> str:
    """The verdict the scripted judge gives for a checklist request (a thinking part, then fenced JSON)."""
    if body["seed"] in garbage_seeds:
        return GARBAGE
    caption = body["messages"][-1]["content"].split('"""')[3]
    verdict = dict(GOOD)
    for phrase, (item, reason) in JUDGE.items():
        if phrase in caption.lower():
            verdict[item] = item != "describes_voice"
            verdict["reason"] = reason
    return f"<think>\nLet me look at the caption: {caption[:40]}...\n</think>\n```json\n{json.dumps(verdict)}\n```"


def judge_engine(server: FaultServer, max_retries: int = 1):
    """The openai engine pointed at ``server`` (4 requests at once, 10 ms backoff)."""
    from annotate.engines.configs import OpenAIEngineConfig
    from annotate.engines.openai_engine import OpenAIEngine

    return OpenAIEngine(OpenAIEngineConfig(model="judge", base_url=server.base_url, max_retries=max_retries,
                                           max_concurrency=4, backoff_base_s=0.01))
