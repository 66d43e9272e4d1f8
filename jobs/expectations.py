"""Expectation suites kept as files (schemas/expectations/*.json) and the two ways they run.

A suite file is a Great Expectations 1.x ExpectationSuite in JSON, versioned
with the code. Values that depend on the config or on earlier runs are written
``{"$PARAMETER": name}``; :func:`resolve` turns a suite into concrete
expectation configs for one run. Then:

* row suites are translated by :func:`row_rules` into Spark column expressions,
  one per rule, evaluated in a single pass (a full GX run of eight row
  expectations costs about three times a plain read-and-write; see bench/);
  :func:`any_rule_broken` is the cheaper OR of them all that decides validity;
  uniqueness expectations by :func:`repeated_key_rows` (a 64-bit key hash per
  row) and :func:`later_copies` (only the rows with a repeated hash sorted);
* batch suites run in Great Expectations itself (:class:`GxValidator`), whose
  result is saved as JSON and rendered as Data Docs.

tests/test_validate.py runs the row suite through GX too and checks both find
the same rows, so the file stays the one source of truth.
"""

from __future__ import annotations

import json
import operator
import re
import sys
from collections.abc import Mapping, Sequence
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.errors import ConfigError

# Beside the package: in the checkout, and in the --py-files zip that scripts/package.sh builds.
SUITES_DIR = Path(__file__).parents[1] / "schemas" / "expectations"
PARAMETER = "$PARAMETER"
UNIQUE = "expect_compound_columns_to_be_unique"
MATCH_REGEX = "expect_column_values_to_match_regex"
# ^[...]*\z : a regex that tests every character against one class (no brackets inside). Not $, which
# also matches before a final line break: "a\n" would pass alone but fail joined to the next column.
CHAR_CLASS_REGEX = re.compile(r"\^\[[^\[\]]+\]\*\\z")


def load_suite(name: str, suites_dir: Path = SUITES_DIR) -> dict[str, Any]:
    """The suite file ``<suites_dir>/<name>.json`` as a dict.

    Read through the package's own loader, so it works from a zip on sys.path
    (spark-submit --py-files) as well as from a folder.
    """
    path = suites_dir / f"{name}.json"
    loader = sys.modules[__name__].__spec__.loader
    try:
        return json.loads(loader.get_data(str(path)))
    except OSError as exc:
        raise ConfigError(f"cannot read expectation suite {path}: {exc.strerror or exc}") from None


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
    groups: Mapping[str, Sequence[Mapping[str, Any]]] = {},  # noqa: B006 - read only
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


# ---------------------------------------------------------------- row rules as Spark columns


def _between(column: Column, kwargs: Mapping[str, Any]) -> Column:
    """True where ``column`` lies outside [min_value, max_value] (strict_* as in GX)."""
    outside = F.lit(False)
    if "min_value" in kwargs:
        low = F.lit(kwargs["min_value"])
        outside = outside | (column <= low if kwargs.get("strict_min") else column < low)
    if "max_value" in kwargs:
        high = F.lit(kwargs["max_value"])
        outside = outside | (column >= high if kwargs.get("strict_max") else column > high)
    return outside


def unexpected(expectation: Mapping[str, Any]) -> Column:
    """A never-null column, true where a row breaks this column-map expectation.

    Follows GX semantics: except for the null checks themselves, a null value
    is not unexpected; ``row_condition`` (Spark SQL) limits the rows checked.
    """
    kind, kwargs = expectation["type"], expectation["kwargs"]
    if "mostly" in kwargs:
        raise ConfigError(f"{kind}: row rules are absolute, `mostly` is not supported")
    if kind == UNIQUE:
        raise ConfigError(f"{kind} compares rows with each other: see later_copies")
    column = F.col(f"`{kwargs['column']}`")
    if kind == "expect_column_values_to_not_be_null":
        broken = column.isNull()
    elif kind == "expect_column_values_to_be_null":
        broken = column.isNotNull()
    elif kind == "expect_column_values_to_be_in_set":
        broken = column.isNotNull() & ~column.isin(list(kwargs["value_set"]))
    elif kind == "expect_column_values_to_be_between":
        broken = column.isNotNull() & _between(column, kwargs)
    elif kind == "expect_column_value_lengths_to_be_between":
        broken = column.isNotNull() & _between(F.length(column), kwargs)
    elif kind == MATCH_REGEX:
        broken = column.isNotNull() & ~column.rlike(kwargs["regex"])
    else:
        raise ConfigError(f"{kind} cannot be used as a row rule (no Spark translation)")
    if "row_condition" in kwargs:
        if kwargs.get("condition_parser") != "spark":
            raise ConfigError(f"{kind}: row_condition needs condition_parser 'spark'")
        broken = F.expr(kwargs["row_condition"]) & broken
    return F.coalesce(broken, F.lit(False))


def row_rules(expectations: Sequence[Mapping[str, Any]]) -> dict[str, Column]:
    """Rule name (``meta.rule``) -> a column true where a row breaks any of its expectations.

    Uniqueness expectations compare rows with each other and are left to
    :func:`unique_keys` / :func:`later_copies`.
    """
    by_rule: dict[str, list[Column]] = {}
    for expectation in expectations:
        if expectation["type"] != UNIQUE:
            by_rule.setdefault(expectation["meta"]["rule"], []).append(unexpected(expectation))
    return {rule: reduce(lambda a, b: a | b, columns) for rule, columns in by_rule.items()}


def any_rule_broken(expectations: Sequence[Mapping[str, Any]]) -> Column:
    r"""True where a row breaks any row rule: the OR of :func:`row_rules`, cheaper to evaluate.

    Regex expectations that test every character of a column against the same
    class (``^[...]*\z``, such as the id character rules) hold for each column
    exactly when they hold for the columns joined, so they run as one regex call
    per row instead of one per column (the call, not the class test, is the cost:
    on 4.8M rows the two id checks went from 1.7 to 1.2 s).
    """
    columns_per_class: dict[str, list[str]] = {}
    broken = []
    for expectation in expectations:
        kind, kwargs = expectation["type"], expectation["kwargs"]
        if kind == UNIQUE:
            continue
        plain = "row_condition" not in kwargs and "mostly" not in kwargs
        if kind == MATCH_REGEX and plain and CHAR_CLASS_REGEX.fullmatch(kwargs["regex"]):
            columns_per_class.setdefault(kwargs["regex"], []).append(kwargs["column"])
        else:
            broken.append(unexpected(expectation))
    for regex, columns in columns_per_class.items():
        # Nulls are skipped, as GX skips them. Each column is made valid UTF-8 first (Parquet/Delta strings
        # are not checked): two broken halves must not join into one valid, different character.
        joined = F.concat_ws("", *[F.make_valid_utf8(F.col(f"`{c}`")) for c in columns])
        broken.append(~joined.rlike(regex))
    return reduce(operator.or_, broken, F.lit(False))


def rule_names(expectations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The rule names (``meta.rule``) of a suite, each once, in suite order."""
    return list(dict.fromkeys(e["meta"]["rule"] for e in expectations))


def unique_keys(expectations: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Rule name -> the key columns of each compound-uniqueness expectation."""
    return {e["meta"]["rule"]: list(e["kwargs"]["column_list"]) for e in expectations if e["type"] == UNIQUE}


def repeated_key_rows(rows: DataFrame, columns: Sequence[str], order: str) -> DataFrame:
    """The ``order`` value of every row whose key hash occurs more than once: a copy, or rarely a collision.

    Sorting every row by the full key is what makes an exact uniqueness check
    expensive. Here each row carries one 64-bit hash of its key through the
    shuffle (Spark radix-sorts longs); on 4.8M rows this cost 2.6 s with
    :func:`later_copies`, against 3.4 s for a group-by count of the hashes.
    """
    key_hash = F.xxhash64(*[F.col(f"`{c}`") for c in columns])
    rows_per_hash = F.count(F.lit(1)).over(Window.partitionBy(key_hash))
    return rows.select(order, rows_per_hash.alias("_rows")).where(F.col("_rows") > 1).select(order)


def later_copies(rows: DataFrame, columns: Sequence[str], order: str, candidates: DataFrame) -> DataFrame:
    """The ``order`` value of every copy of a row after the first (GX flags all copies; we keep one).

    Only the ``candidates`` (:func:`repeated_key_rows`) are sorted by the exact
    key (nulls equal) and numbered in ``order``.
    """
    keys = [F.col(f"`{c}`") for c in columns]
    copy_number = F.row_number().over(Window.partitionBy(*keys).orderBy(order))
    repeated = rows.join(candidates, order, "left_semi")
    return repeated.select(order, copy_number.alias("_copy")).where(F.col("_copy") > 1).select(order)


# ---------------------------------------------------------------- Great Expectations runs


class GxValidator:
    """One ephemeral GX context per validate run, with a Data Docs site in ``docs_dir``."""

    SITE = "reclake"

    def __init__(self, docs_dir: str | None) -> None:
        import great_expectations as gx  # heavy: imported only when a validation runs

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False}
        self.docs_dir = docs_dir
        if docs_dir is not None:
            self.context.add_data_docs_site(
                site_name=self.SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
                },
            )
        self.batches = self.context.data_sources.add_spark(name="reclake").add_dataframe_asset(name="events")

    def validate(self, df: DataFrame, suite_name: str, expectations: Sequence[Mapping[str, Any]]) -> Any:
        """Run ``expectations`` on the whole ``df`` (no pandas); return GX's validation result."""
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.core.expectation_suite import ExpectationSuite

        gx = self._gx
        suite = self.context.suites.add(
            ExpectationSuite(name=suite_name, expectations=[dict(e) for e in expectations])
        )
        batch = self.batches.add_batch_definition_whole_dataframe(suite_name)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
        )
        actions = [UpdateDataDocsAction(name="data_docs", site_names=[self.SITE])] if self.docs_dir else []
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=suite_name, validation_definitions=[definition], actions=actions, result_format="SUMMARY"
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": df})
        return next(iter(result.run_results.values()))

    @property
    def index_html(self) -> str | None:
        return None if self.docs_dir is None else str(Path(self.docs_dir) / "index.html")


def failure(rule: str, description: str, observed: Any, expected: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A failed batch rule, as reported (the same shape for GX results and the job's own checks)."""
    return {"rule": rule, "expectation": "", "description": description, "expected": dict(expected or {}),
            "observed": observed, "details": None}


def failed_rules(result: Any) -> list[dict[str, Any]]:
    """The failed expectations of a GX result as plain dicts: rule, what was expected and seen."""
    failures = []
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        observed = outcome.result.get("observed_value")
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            observed = outcome.exception_info.get("exception_message")
        failed = failure(config.meta.get("rule", config.type), config.meta.get("description", ""), observed, kwargs)
        failures.append({**failed, "expectation": config.type, "details": outcome.result.get("details")})
    return failures


def describe(failure: Mapping[str, Any]) -> str:
    """One line naming the rule and the figures, for the error message."""
    text = f"{failure['rule']}: {failure['description'] or failure['expectation']}; observed {failure['observed']!s}"
    expected = failure["expected"]
    bounds = {k: expected[k] for k in ("min_value", "max_value", "column_set", "type_") if k in expected}
    if bounds:
        text += ", expected " + ", ".join(f"{k}={v!s}" for k, v in bounds.items())
    if failure.get("details"):
        text += f" {json.dumps(failure['details'], default=str, sort_keys=True)}"
    return text
