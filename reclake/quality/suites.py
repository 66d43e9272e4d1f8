"""The expectation suites: Great Expectations 1.x suites in JSON, shipped as package data.

A suite file (``reclake/quality/suites/<name>.json``) is versioned with the code.
Values that depend on the config or on earlier runs are written
``{"$PARAMETER": name}``; :func:`resolve` turns a suite into concrete expectation
configs for one run. Suites are read with :mod:`importlib.resources`, so they load
the same from a checkout, an installed wheel or the ``--py-files`` zip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from reclake.errors import ConfigError

PARAMETER = "$PARAMETER"
ROW_SUITE, SOURCE_SUITE, BATCH_SUITE = "events.rows", "events.source", "events.batch"
CATALOGUE_ROW_SUITE, CATALOGUE_SOURCE_SUITE, CATALOGUE_BATCH_SUITE = (
    "catalogue.rows",
    "catalogue.source",
    "catalogue.batch",
)


def load_suite(name: str) -> dict[str, Any]:
    """The suite ``<name>.json`` shipped in ``reclake.quality.suites``, as a dict."""
    suite = resources.files("reclake.quality") / "suites" / f"{name}.json"
    try:
        return json.loads(suite.read_text(encoding="utf-8"))
    except (OSError, FileNotFoundError) as exc:
        raise ConfigError(f"cannot read expectation suite {name!r} from the reclake package: {exc}") from None


def _substitute(value: Any, params: Mapping[str, Any], item: Mapping[str, Any]) -> tuple[Any, bool]:
    """Resolve one kwarg; also say whether it was a parameter reference."""
    if isinstance(value, dict) and set(value) == {PARAMETER}:
        name = value[PARAMETER]
        if name not in params:
            raise ConfigError(f"expectation parameter {name!r} has no value (known: {', '.join(sorted(params))})")
        return params[name], True
    if isinstance(value, str):
        for key, replacement in item.items():
            value = value.replace("{" + key + "}", str(replacement).replace("'", "\\'"))
    return value, False


def resolve(
    suite: Mapping[str, Any],
    params: Mapping[str, Any],
    groups: Mapping[str, Sequence[Mapping[str, Any]]] = {},
) -> list[dict[str, Any]]:
    """Concrete expectation configs (type, kwargs, meta) for one run.

    ``meta.for_each: G`` repeats an expectation for every item of ``groups[G]``
    (its keys become parameters and ``{key}`` placeholders). An expectation is
    skipped when all its parameters are unset (None) or its ``meta.only_if``
    parameter is false; unset kwargs are dropped.
    """
    resolved = []
    for expectation in suite["expectations"]:
        meta = expectation.get("meta", {})
        group = meta.get("for_each")
        if group is not None and group not in groups:
            raise ConfigError(f"suite {suite['name']}: unknown for_each group {group!r}")
        for item in groups[group] if group is not None else [{}]:
            scope = {**params, **item}
            if "only_if" in meta and not scope.get(meta["only_if"]):
                continue
            kwargs, refs = {}, []
            for key, value in expectation["kwargs"].items():
                kwargs[key], is_ref = _substitute(value, scope, item)
                if is_ref:
                    refs.append(kwargs[key])
            if refs and all(ref is None for ref in refs):
                continue
            kwargs = {key: value for key, value in kwargs.items() if value is not None}
            resolved.append({"type": expectation["type"], "kwargs": kwargs, "meta": meta})
    return resolved


def rule_names(expectations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The rule names (``meta.rule``) of a suite, each once, in suite order."""
    return list(dict.fromkeys(e["meta"]["rule"] for e in expectations))
