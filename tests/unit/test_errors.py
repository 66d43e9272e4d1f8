"""The error conditions: one per error class, each with a stable code, kept as data and listed in docs/errors.md."""

from __future__ import annotations

import ast
import inspect
import json
from importlib import resources

import pytest

from reclake import errors
from reclake.config import Config
from reclake.console import closing_lines, error_line, failure_line
from reclake.context import Stage, StageResult
from reclake.errors import CODE, CONDITIONS, REGENERATE_REFERENCE, ReclakeError, reference_markdown
from reclake.runner import run_job
from tests.helpers import REPO

ERROR_CLASSES = {
    name: cls
    for name, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, ReclakeError) and cls.__module__ == errors.__name__
}


def test_every_error_class_has_exactly_one_condition_and_every_condition_a_class():
    named = [condition.error_class for condition in CONDITIONS.values()]
    assert sorted(named) == sorted(ERROR_CLASSES), "error-conditions.json and reclake/errors.py disagree"
    for cls in ERROR_CLASSES.values():
        assert cls("x").condition.error_class == cls.__name__


def test_codes_are_well_formed_unique_and_exit_with_a_failure_status():
    def no_repeats(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"repeated key in error-conditions.json: {keys}"
        return dict(pairs)

    text = resources.files("reclake").joinpath("error-conditions.json").read_text(encoding="utf-8")
    raw = json.loads(text, object_pairs_hook=no_repeats)
    assert list(raw) == list(CONDITIONS)
    for code, condition in CONDITIONS.items():
        assert CODE.fullmatch(code), code
        assert set(raw[code]) == {"class", "description", "action", "exit_status"}, code
        assert condition.description.strip() and condition.action.strip(), code
        assert 1 <= condition.exit_status <= 125, code  # 0 is success; above 125 the shell means signals


def test_a_subclass_takes_its_nearest_condition():
    class Unreadable(errors.InputError):
        pass

    assert Unreadable("x").code == "RECLAKE-INPUT-UNREADABLE"
    assert ReclakeError("x").code == "RECLAKE-ERROR"


def _package_sources():
    for path in sorted((REPO / "reclake").rglob("*.py")):
        yield path.relative_to(REPO), ast.parse(path.read_text())


def test_error_classes_are_defined_only_in_reclake_errors():
    elsewhere = [
        f"{path}: {node.name}"
        for path, tree in _package_sources()
        if path.as_posix() != "reclake/errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id in ERROR_CLASSES for base in node.bases)
    ]
    assert not elsewhere, elsewhere


def test_nothing_raises_the_bare_base_class():
    # A bare ReclakeError would print the catch-all RECLAKE-ERROR: each raise names its condition's class.
    bare = [
        f"{path}:{node.lineno}"
        for path, tree in _package_sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id == "ReclakeError"
    ]
    assert not bare, bare


def test_the_one_line_names_the_job_the_code_the_class_and_the_message():
    exc = errors.InputError("input not found: /data/x #1.csv (set input.path or pass --input)")
    assert failure_line("reclake validate", exc) == (
        "reclake validate: error [RECLAKE-INPUT-UNREADABLE] InputError: "
        "input not found: /data/x #1.csv (set input.path or pass --input)"
    )
    summary = {"status": "failed", "error": exc.one_line(), "error_code": exc.code, "timings_s": {"total": 1.0}}
    assert closing_lines("reclake validate", summary, Config(), None) == [failure_line("reclake validate", exc)]
    assert error_line("reclake run", "RECLAKE-TABLE-MISSING", "MissingTableError: m") == (
        "reclake run: error [RECLAKE-TABLE-MISSING] MissingTableError: m"
    )


def test_a_refused_config_prints_the_code_and_exits_with_its_status(capsys):
    """run_job, end to end up to the config: nothing starts Spark (the stage's run is never reached)."""

    def never(*_: object) -> StageResult:
        raise AssertionError("the stage ran")

    status = run_job("reclake train", "t", [Stage("train", never)], ["--set", "als.rank=0", "--json"])
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert status == CONDITIONS["RECLAKE-CONFIG-INVALID"].exit_status
    assert summary["status"] == "failed" and summary["error_code"] == "RECLAKE-CONFIG-INVALID"
    assert summary["error"].startswith("ConfigError: ") and "als.rank" in summary["error"]
    assert err.splitlines() == [f"reclake train: error [RECLAKE-CONFIG-INVALID] {summary['error']}"]


@pytest.mark.parametrize("cls", sorted(ERROR_CLASSES), ids=str)
def test_every_condition_is_listed_in_the_reference(cls):
    assert f"| `{ERROR_CLASSES[cls]('x').code}` | `{cls}` |" in reference_markdown()


def test_error_reference_is_up_to_date():
    reference = REPO / "docs" / "errors.md"
    current = reference.read_text() if reference.exists() else ""
    assert current == reference_markdown(), f"docs/errors.md is stale: regenerate it with {REGENERATE_REFERENCE}"
