"""Loading the configuration: a YAML file, then ``--set section.key=value`` overrides, then validation.

Overrides are parsed as YAML so types survive (``--set tune.rank=[8,16]`` is a
list); the command line's path shortcuts (``--input``, ``--lakehouse``) and the
run date are set as they are, never parsed, so a path holding ``#`` or ``: ``
means that path.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from reclake.config.models import CREDENTIALS_IN_URL, Config, dict_of_models, model_in
from reclake.errors import ConfigError


def parse_override(override: str) -> tuple[list[str], Any]:
    """``als.rank=64`` -> (["als", "rank"], 64). The value is parsed as YAML, so types survive."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected section.key=value, e.g. --set als.rank=64")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        # Only marked errors (syntax) name a problem; others (e.g. a control character) say it in their text.
        problem = getattr(exc, "problem", exc)
        raise ConfigError(f"--set {override!r}: the value is not valid YAML ({problem})") from None
    return split_key(key.strip()), value


def split_key(key: str) -> list[str]:
    """``als.rank`` -> ["als", "rank"]; under a mapping of plain values the rest of the key is one name, so
    ``spark.conf.spark.ui.port`` -> ["spark", "conf", "spark.ui.port"] (Spark's own keys hold dots)."""
    parts = key.split(".")
    found = _mapping_on(parts)
    if found is None or dict_of_models(found[1].annotation) is not None:
        return parts
    i = found[0]
    return [*parts[: i + 1], ".".join(parts[i + 1 :])]


def _mapping_on(path: list[str]) -> tuple[int, FieldInfo] | None:
    """(position, field) of the mapping field ``path`` goes through below its sections, if it goes through one."""
    model: type[BaseModel] = Config
    for i, part in enumerate(path[:-1]):
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = model_in(field.annotation)
        if nested is None:
            return (i, field) if typing.get_origin(field.annotation) is dict else None
        model = nested
    return None


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``data[a][b][c] = value``, creating sections as needed; validation happens later."""
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {'.'.join(path[: i + 1])} is a value, not a section")
        node = child
    node[path[-1]] = value


def _seed_default_mapping(data: dict[str, Any], path: list[str]) -> None:
    """Before ``--set events.types.view.weight=2`` on a file without ``events.types``, copy the default mapping in.

    A mapping in a file replaces the default mapping as a whole (conf/movielens-100k.yaml keeps only
    ``rating``), but an override of one entry changes that entry of the mapping in effect.
    """
    found = _mapping_on(path)
    if found is None or found[1].default_factory is None:
        return
    i, field = found
    node: Any = data
    for step in path[:i]:
        node = node.setdefault(step, {}) if isinstance(node, dict) else None
    if isinstance(node, dict) and path[i] not in node:
        default = field.get_default(call_default_factory=True)
        node[path[i]] = {
            k: v.model_dump(exclude_unset=True) if isinstance(v, BaseModel) else v for k, v in default.items()
        }


def _nearest_key(loc: tuple[int | str, ...]) -> str | None:
    """The known key nearest a misspelt or renamed one (``als.rnak`` -> ``als.rank``), if one is near."""
    model: type[BaseModel] = Config
    parts = iter(loc[:-1])
    for part in parts:
        field = model.model_fields.get(str(part))
        nested = None if field is None else model_in(field.annotation)
        if field is not None and nested is None:  # a mapping of sections: the next part names an entry
            nested = dict_of_models(field.annotation)
            if next(parts, None) is None:
                return None
        if nested is None:
            return None
        model = nested
    near = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return ".".join([*(str(part) for part in loc[:-1]), near[0]]) if near else None


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        near = _nearest_key(error["loc"])
        hint = f"; did you mean {near}?" if near else ""
        return f"{key}: unknown key (check the spelling against docs/configuration.md{hint})"
    if error["type"] == CREDENTIALS_IN_URL:  # never echo a secret into an error message or a log
        return f"{key}: {message}"
    if "input" in error and error["type"] not in ("missing",) and not isinstance(error["input"], dict):
        return f"{key}: {message} (got {error['input']!r})"
    return f"{key}: {message}"


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    values: Mapping[str, Any] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> Config:
    """Read ``path`` (YAML), apply ``section.key=value`` overrides, then ``values`` as they are, and validate.

    ``values`` maps dotted keys to values that are not parsed (``{"input.path": "data/x #1.csv"}``):
    the command line's path shortcuts, which must mean the path they name.

    Relative local paths are resolved against ``base_dir`` (default: the current
    directory), which is where the README's commands run.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config {source}: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    for override in overrides:
        key_path, value = parse_override(override)
        _seed_default_mapping(data, key_path)
        apply_override(data, key_path, value)
    for key, value in (values or {}).items():
        apply_override(data, split_key(key), value)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    try:
        return Config.model_validate(data, context={"base_dir": base})
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
