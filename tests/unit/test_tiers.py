"""The tiers are folders: tests/unit, tests/integration (with unit, the fast tier) and tests/e2e (marked e2e by
tests/conftest.py). No test marks itself e2e, every test module sits in one tier, and unit tests need neither the
golden lakehouse nor a job run."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import TESTS

TIERS = ("unit", "integration", "e2e")
# Fixtures that build or run the pipeline: the integration tier's, never the unit tier's.
PIPELINE_FIXTURES = {"golden", "golden_copy", "run_cli"}


def modules() -> list[Path]:
    """Every test module of the suite."""
    return sorted(TESTS.rglob("test_*.py"))


def marks(path: Path) -> set[str]:
    """Names of the ``pytest.mark.<name>`` (or ``mark.<name>``) attributes the module uses."""
    return {
        node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "mark"
    }


def test_every_test_module_sits_in_a_tier_folder():
    assert modules() and all(p.relative_to(TESTS).parts[0] in TIERS for p in modules())


def test_no_test_outside_tests_e2e_marks_itself_e2e():
    assert [str(p) for p in modules() if "e2e" in marks(p) and "e2e" not in p.relative_to(TESTS).parts] == []


def test_marks_are_found_where_they_are_used():
    # The check above would pass on a walker that finds nothing: it finds the skipif marks the suite uses.
    assert "skipif" in marks(TESTS / "integration" / "test_alerts.py")


def test_unit_tests_use_no_fixture_that_runs_the_pipeline():
    found = []
    for path in modules():
        if path.relative_to(TESTS).parts[0] != "unit":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                used = {a.arg for a in node.args.args} & PIPELINE_FIXTURES
                found += [f"{path.name}::{node.name} uses {name}" for name in sorted(used)]
    assert found == []


def test_test_modules_find_the_checkout_through_helpers_not_their_own_path():
    # A module that computes the checkout from its own path breaks silently when it moves to another folder.
    uses_own_path = [
        str(path)
        for path in modules()
        if any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(ast.parse(path.read_text())))
    ]
    assert uses_own_path == []
