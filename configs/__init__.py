"""The shipped configs (``*.yaml``) and prompt templates (``prompts/<name>.v<N>.yaml``).

They are package data of this package, found through :mod:`importlib.resources`, so a wheel install has them
as well as a source checkout. :func:`config_path` is the one resolver of a config reference; every loader
(:func:`clsp.config.load_config`, :func:`annotate.prompts.prompt_path`) goes through it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# pip installs a wheel unpacked, so the package data is a folder on disk (the loaders read files by path).
CONFIGS_DIR: Path = Path(str(files(__name__)))
PROMPTS_DIR: Path = CONFIGS_DIR / "prompts"


def shipped_configs() -> list[str]:
    """File names of the shipped configs, sorted (``["acoustic.yaml", "annotate-clsp-captioner.yaml", ...]``)."""
    return sorted(p.name for p in CONFIGS_DIR.glob("*.yaml"))


def shipped_name(ref: str | Path) -> Path | None:
    """The path inside this package that ``ref`` would name: ``annotate-demo``, ``annotate-demo.yaml`` and
    ``configs/annotate-demo.yaml`` give ``annotate-demo.yaml``; ``configs/prompts/x.v1.yaml`` gives
    ``prompts/x.v1.yaml``; anything else (an absolute path, another folder) None."""
    path = Path(ref)
    if path.is_absolute():
        return None
    if len(path.parts) > 1 and path.parts[0] == "configs":
        path = Path(*path.parts[1:])
    elif len(path.parts) != 1:
        return None
    return path if path.suffix else path.with_name(path.name + ".yaml")


def config_path(ref: str | Path) -> Path:
    """The file a config reference names: an existing file as given; else the shipped config that
    :func:`shipped_name` names (so the README's ``--config configs/annotate-demo.yaml`` works from any folder and
    from a wheel install); else ``ref`` as given, for the loader to report as not found."""
    path = Path(ref)
    name = None if path.exists() else shipped_name(path)
    return CONFIGS_DIR / name if name is not None and (CONFIGS_DIR / name).is_file() else path
