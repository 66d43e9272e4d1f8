"""The configuration reference, ``docs/configuration.md``, generated from the models (a test keeps it fresh)."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import types
import typing
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from reclake.config.models import Config, dict_of_models, model_in, resolve_local_path

REGENERATE_REFERENCE = ".venv/bin/python -m reclake.config > docs/configuration.md"

_REFERENCE_INTRO = """\
Every key of the YAML config, generated from the models in `reclake/config/models.py`, which hold
the one set of defaults. A config file such as `conf/local.yaml` sets only the keys that
differ; `--set section.key=value` overrides one key for one run (the value is read as YAML,
so `--set tune.rank=[8,16]` is a list). Unknown keys, wrong types and impossible values are
rejected at load time, naming the key. A relative *path* is resolved against the directory
the command runs in (`~` is expanded); URIs (`s3a://`, `gs://`, `file:`) are kept as they are."""

_SCALAR_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dt.date: "date",
    type(None): "null",
}


def _resolves_paths(metadata: typing.Iterable[Any]) -> bool:
    return any(isinstance(m, AfterValidator) and m.func is resolve_local_path for m in metadata)


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return "path" if _resolves_paths(annotation.__metadata__) else _type_name(args[0])
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        named = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        keys = f"({', '.join(typing.get_args(args[0]))})" if typing.get_origin(args[0]) is Literal else "name"
        return f"mapping of {keys} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return _SCALAR_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(field: FieldInfo) -> str:
    words = {
        annotated_types.Gt: ("> {}", "gt"),
        annotated_types.Ge: (">= {}", "ge"),
        annotated_types.Lt: ("< {}", "lt"),
        annotated_types.Le: ("<= {}", "le"),
        annotated_types.MinLen: ("at least {} characters", "min_length"),
        annotated_types.MaxLen: ("at most {} characters", "max_length"),
    }
    parts = []
    for item in field.metadata:
        if isinstance(item, annotated_types.MinLen) and item.min_length == 1:
            parts.append("not empty")
        elif type(item) in words:
            template, attribute = words[type(item)]
            parts.append(template.format(getattr(item, attribute)))
        elif getattr(item, "pattern", None) is not None:
            parts.append(f"matching `{item.pattern}`")
    return ", ".join(parts)


def _yaml(value: Any) -> str:
    """A default as one would write it in the YAML file (flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            plain = bool(value) and not value.startswith(("{", "[")) and yaml.safe_load(value) == value
        except yaml.YAMLError:
            plain = False
        return value if plain else json.dumps(value)
    if isinstance(value, BaseModel):
        return _yaml(value.model_dump(exclude_unset=True))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    """One table row per key of ``model`` (dotted under ``prefix``), nested sections and mappings expanded."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}"
        nested, entries = model_in(field.annotation), dict_of_models(field.annotation)
        type_name = "path" if _resolves_paths(field.metadata) else _type_name(field.annotation)
        constraints = _constraints(field)
        if constraints:
            type_name += f", {constraints}"
        if field.default is PydanticUndefined and field.default_factory is None:
            default = "required"
        elif nested is not None and field.default_factory is not None:
            default = "see below"
        else:
            default = f"`{_yaml(field.get_default(call_default_factory=True))}`"
        rows.append(f"| `{key}` | {_cell(type_name)} | {_cell(default)} | {_cell(field.description or '')} |")
        if nested is not None:
            rows += _rows(nested, key)
        elif entries is not None:
            rows += _rows(entries, f"{key}.<name>")
    return rows


def reference_markdown() -> str:
    """The configuration reference: every section and key with its type, default and meaning, as Markdown."""
    lines = [
        "# Configuration reference",
        "",
        f"Generated from `reclake/config/models.py`; do not edit by hand. Regenerate: `{REGENERATE_REFERENCE}`",
        "",
        _REFERENCE_INTRO,
    ]
    for name, field in Config.model_fields.items():
        section = model_in(field.annotation)
        assert section is not None, name
        lines += [
            "",
            f"## `{name}`",
            "",
            inspect.cleandoc(section.__doc__ or ""),
            "",
            "| Key | Type | Default | Meaning |",
            "|---|---|---|---|",
            *_rows(section, name),
        ]
    return "\n".join(lines) + "\n"
