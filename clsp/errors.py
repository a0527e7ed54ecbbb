"""User-facing errors. The CLI prints them as one line and exits with status 2."""


class ClspError(Exception):
    """An error caused by the user's input (config, manifest, audio, arguments)."""


class ConfigError(ClspError, ValueError):
    """A config file or ``--set`` override does not match the expected schema."""


class ManifestError(ClspError, ValueError):
    """A manifest entry (cut, caption, audio reference) does not match the data model."""
