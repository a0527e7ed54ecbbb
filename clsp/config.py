"""Typed YAML configs.

A config file is YAML whose keys mirror a (possibly nested) dataclass. Loading checks every key
against the dataclass and stops with one line that names the file, the dotted key and what was
expected::

    configs/demo.yaml: unknown key 'optim.lrr' (expected one of: lr, warmup_steps)
    configs/demo.yaml: missing required key 'data.max_duration' (float)
    configs/demo.yaml: key 'optim.lr' expected float, got str 'fast'

A dataclass may name where a key it no longer has went (a classmethod ``moved_key(key)`` returning the
new key relative to it, or None): the error then says so.

``--set a.b=value`` overrides are applied to the YAML tree before checking; the value is parsed
as YAML (``--set optim.lr=1e-3``, ``--set data.splits=[train,dev]``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from clsp.errors import ConfigError
from configs import config_path, shipped_configs, shipped_name

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load ``path`` (YAML) into dataclass ``cls``, applying ``overrides`` (``["a.b=1", ...]``).

    ``path`` is a file, or a shipped config by name (``annotate-demo``, ``configs/annotate-demo.yaml``: see
    :func:`configs.config_path`). With ``path=None`` the dataclass defaults are the base.
    """
    where = str(path) if path is not None else "--set"
    tree: dict[str, Any] = {}
    if path is not None:
        p = config_path(path)
        if not p.is_file():
            shipped = ", ".join(n.removesuffix(".yaml") for n in shipped_configs())
            raise ConfigError(f"{where}: config file not found"
                              + (f" (nor a shipped config: {shipped})" if shipped_name(path) is not None else ""))
        where = str(p)  # errors name the file read (a shipped config's installed path)
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            first = str(e).splitlines()[0] if str(e) else "invalid YAML"
            raise ConfigError(f"{where}: not valid YAML ({first})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{where}: expected a mapping at the top level, got {type(loaded).__name__}")
        tree = loaded
    for item in overrides or []:
        apply_override(tree, item, where)
    return from_dict(cls, tree, where)


def add_config_arguments(parser: argparse.ArgumentParser, config_help: str, set_example: str,
                         required: bool = False) -> None:
    """The ``--config FILE`` and repeatable ``--set KEY=VALUE`` options every configurable command takes."""
    parser.add_argument("--config", type=Path, required=required, default=None, help=config_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config key, e.g. --set {set_example} (repeatable)")


def flag_overrides(overrides: list[str], flags: dict[str, Any]) -> list[str]:
    """``--set`` items, then a command's dedicated flags (config key -> value; None = flag not given),
    which therefore win. Values are written as JSON, which the override parser reads as YAML."""
    return [*overrides, *(f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None)]


def apply_override(tree: dict[str, Any], item: str, where: str = "--set") -> None:
    """Apply one ``a.b.c=value`` override to a nested dict in place."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=0.001")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: --set {key}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def from_dict(cls: type[T], data: Any, where: str = "<config>", prefix: str = "") -> T:
    """Build dataclass ``cls`` from a plain mapping, checking keys and types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: key '{prefix.rstrip('.') or '<top>'}' expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            moved = getattr(cls, "moved_key", None)  # a key that now lives deeper: say where
            new = moved(key) if callable(moved) else None
            if new:
                raise ConfigError(f"{where}: unknown key '{prefix}{key}': it moved to '{prefix}{new}'")
            allowed = ", ".join(sorted(fields))
            raise ConfigError(f"{where}: unknown key '{prefix}{key}' (expected one of: {allowed})")
    kwargs = {}
    for name, f in fields.items():
        dotted = f"{prefix}{name}"
        if name not in data:
            if f.default is _MISSING and f.default_factory is _MISSING:
                raise ConfigError(f"{where}: missing required key '{dotted}' ({_type_name(hints[name])})")
            continue
        kwargs[name] = _coerce(hints[name], data[name], where, dotted)
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            check()
        except ValueError as e:  # messages name keys relative to this section: make them dotted
            raise ConfigError(f"{where}: " + str(e).replace("key '", f"key '{prefix}")
                              .replace("keys '", f"keys '{prefix}")) from None
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) → plain dict suitable for YAML/JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _coerce(tp: Any, value: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where, key)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"{where}: key '{key}' expected {_type_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        if value in args:
            return value
        choices = ", ".join(repr(a) for a in args)
        raise ConfigError(f"{where}: key '{key}' expected one of {choices}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, where, prefix=f"{key}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: key '{key}' expected {_type_name(tp)}, got {_describe(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: key '{key}' expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, where, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: key '{key}' expected {_type_name(tp)}, got {_describe(value)}")
        k_tp, v_tp = args if args else (Any, Any)
        return {
            _coerce(k_tp, k, where, f"{key}.{k}"): _coerce(v_tp, v, where, f"{key}.{k}") for k, v in value.items()
        }
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: key '{key}' expected {_type_name(tp)}, got {_describe(value)}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
