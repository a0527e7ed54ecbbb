"""User-facing errors. The CLI prints them as one line and exits with status 2."""

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: object, max_chars: int = 300, tail: bool = False) -> str:
    """Terminal colours removed, control characters and whitespace runs made single spaces, cut to
    ``max_chars`` with '...' (keeping the end with ``tail``: a Ray task error ends with its cause)."""
    flat = " ".join(_CONTROL.sub(" ", _ANSI.sub("", str(text))).split())
    if len(flat) <= max_chars:
        return flat
    return "..." + flat[3 - max_chars:] if tail else flat[: max_chars - 3] + "..."


class ClspError(Exception):
    """An error caused by the user's input (config, manifest, audio, arguments)."""


class ConfigError(ClspError, ValueError):
    """A config file or ``--set`` override does not match the expected schema."""


class ManifestError(ClspError, ValueError):
    """A manifest entry (cut, caption, audio reference) does not match the data model."""
