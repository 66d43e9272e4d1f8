"""Great Expectations runs of the source and batch suites, and their results as plain dicts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame


class GxValidator:
    """One ephemeral GX context per validate run, with a Data Docs site in ``docs_dir``."""

    SITE = "reclake"

    def __init__(self, docs_dir: str | None) -> None:
        import great_expectations as gx  # heavy: imported only when a validation runs
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
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
        suite = self.context.suites.add(ExpectationSuite(name=suite_name, expectations=[dict(e) for e in expectations]))
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
    return {
        "rule": rule,
        "expectation": "",
        "description": description,
        "expected": dict(expected or {}),
        "observed": observed,
        "details": None,
    }


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
