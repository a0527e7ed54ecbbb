"""Versioned caption prompt templates (``configs/prompts/<name>.v<version>.yaml``), and the one loader of
versioned prompt files (:func:`prompt_path`, :func:`load_versioned`) that verify's checklist prompt uses too.

A template is either ``instruct`` (a system text and one user text per caption kind, following CLSP's
rules: the voice only, never the words, never background or recording quality, never absence, no
over-interpretation; plus an optional tag block) or ``captioner`` (audio only, no text at all, for
Captioner models). Its id ``"<name>@<version>"`` is written into each caption's ``source.prompt_id``,
so a changed text must get a new version.

Messages are OpenAI-style chat messages whose user content holds a ``{"type": "audio"}`` placeholder
part; engines put the clip there (:func:`annotate.engines.base.with_audio`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from lhotse.cut import Cut

from clsp.config import load_config
from clsp.errors import ClspError, ConfigError
from configs import PROMPTS_DIR, config_path

_FILE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+?)\.v(?P<version>\d+)\.ya?ml$")
P = TypeVar("P")


@dataclass
class PromptTemplate:
    name: str
    version: int
    mode: Literal["instruct", "captioner"] = "instruct"
    system: str | None = None
    user: dict[str, str] = field(default_factory=dict)  # kind -> user text
    tag_block: str | None = None  # with a "{tags}" slot

    def validate(self) -> None:
        if self.version < 1:
            raise ValueError(f"key 'version' must be >= 1, got {self.version}")
        if self.mode == "captioner" and (self.system or self.user or self.tag_block):
            raise ValueError("a 'captioner' prompt has no text: leave out keys 'system', 'user' and 'tag_block'")
        if self.mode == "instruct" and not self.user:
            raise ValueError("key 'user' must give the user text of at least one kind (global, fine)")
        if self.tag_block is not None and "{tags}" not in self.tag_block:
            raise ValueError("key 'tag_block' must contain the slot '{tags}'")

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def supported_kinds(self) -> tuple[str, ...]:
        """Captioner models write one detailed description: they serve the ``fine`` kind only."""
        return ("fine",) if self.mode == "captioner" else tuple(self.user)

    def check_kinds(self, kinds: list[str]) -> None:
        missing = [k for k in kinds if k not in self.supported_kinds()]
        if missing:
            raise ClspError(f"prompt '{self.id}' has no text for kind(s) {', '.join(missing)} "
                            f"(it serves: {', '.join(self.supported_kinds())}); change --kinds or the prompt")

    def messages(self, kind: str, tags: dict[str, str] | None = None) -> tuple[dict[str, Any], ...]:
        """Chat messages for one caption of ``kind``; ``tags`` (field -> value) fill the tag block."""
        if self.mode == "captioner":
            return ({"role": "user", "content": [{"type": "audio"}]},)
        if kind not in self.user:
            raise ClspError(f"prompt '{self.id}' has no text for kind '{kind}'")
        text = self.user[kind].strip()
        if tags and self.tag_block:
            listed = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in tags.items())
            text = f"{text}\n{self.tag_block.strip().replace('{tags}', listed)}"
        out: list[dict[str, Any]] = []
        if self.system:
            out.append({"role": "system", "content": self.system.strip()})
        out.append({"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": text}]})
        return tuple(out)


def available_prompts(prompts_dir: Path = PROMPTS_DIR) -> list[str]:
    """Ids (``name@version``) of the templates in ``prompts_dir``, sorted."""
    found = []
    for p in sorted(Path(prompts_dir).glob("*.y*ml")):
        m = _FILE.match(p.name)
        if m:
            found.append(f"{m['name']}@{int(m['version'])}")
    return found


def _is_path(ref: str | Path) -> bool:
    return isinstance(ref, Path) or str(ref).endswith((".yaml", ".yml")) or "/" in str(ref)


def prompt_path(ref: str | Path, prompts_dir: Path = PROMPTS_DIR) -> Path:
    """The file of a prompt: ``name@version`` → ``<prompts_dir>/<name>.v<version>.yaml``, ``name`` → its newest
    version; a ``Path``, or a string ending in ``.yaml``/``.yml`` or holding a ``/``, is a file (as given when
    it exists, else ``configs/prompts/...`` is the shipped one: :func:`configs.config_path`). Unknown names are a
    one-line :class:`ConfigError` naming the file looked for and the prompts there are."""
    if _is_path(ref):
        return config_path(ref)
    name, at, version = str(ref).partition("@")
    if not name or (at and not version.isdigit()):
        raise ConfigError(f"prompt {str(ref)!r}: expected 'name@version' with an integer version, e.g. clsp-style@1")
    versions = {int(m["version"]): p for p in Path(prompts_dir).glob(f"{name}.v*.y*ml")
                if (m := _FILE.match(p.name)) and m["name"] == name}
    if not versions or (version and int(version) not in versions):
        wanted = Path(prompts_dir) / f"{name}.v{int(version) if version else '<N>'}.yaml"
        choices = ", ".join(available_prompts(prompts_dir)) or "none"
        raise ConfigError(f"prompt {str(ref)!r} not found: no file {wanted} (available: {choices})")
    return versions[int(version) if version else max(versions)]


def load_versioned(cls: type[P], ref: str | Path, prompts_dir: Path = PROMPTS_DIR) -> P:
    """The prompt dataclass ``cls`` (with ``name`` and ``version`` fields) from :func:`prompt_path`'s file;
    a prompt found by name must declare the name and version of its file name. Errors name the file/key."""
    path = prompt_path(ref, prompts_dir)
    prompt = load_config(cls, path)
    if not _is_path(ref):
        name = str(ref).partition("@")[0]
        if prompt.name != name or path.name != f"{name}.v{prompt.version}{path.suffix}":
            raise ConfigError(f"{path}: declares name '{prompt.name}' version {prompt.version}, "
                              f"which does not match its file name")
    return prompt


def load_prompt(ref: str | Path, prompts_dir: Path = PROMPTS_DIR) -> PromptTemplate:
    """A caption template by ``name@version``, ``name`` (its newest version) or a path to a YAML file."""
    return load_versioned(PromptTemplate, ref, prompts_dir)


def tag_values(cut: Cut, fields: list[str]) -> dict[str, str]:
    """The cut's values of ``fields`` (from ``cut.custom``, else the first supervision's custom fields)."""
    sup_custom = (cut.supervisions[0].custom or {}) if cut.supervisions else {}
    out = {}
    for name in fields:
        value = (cut.custom or {}).get(name, sup_custom.get(name))
        if value is not None and not isinstance(value, (list, dict)) and str(value).strip():
            out[name] = str(value)
    return out
