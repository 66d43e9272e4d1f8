"""The package's import rules, read from the source (ast) and checked in fresh interpreters.

No stage imports another stage, no module of reclake takes part in an import
cycle (function-local imports included: they only hide a cycle), and the
Spark-free side (serving, the CLI's readers, the DAG file) never loads pyspark
or delta-spark.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "reclake"
SPARK_MODULES = ("pyspark", "delta", "py4j")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The reclake modules ``name`` imports anywhere in its source (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from reclake.model import registry` imports the module reclake.model.registry.
            found |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            }
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def test_the_graph_sees_the_packages_imports():
    # Guards the test itself: a parser that found nothing would pass every rule below.
    assert "reclake.io.layout" in GRAPH["reclake.stages.publish"]
    assert "reclake.model.registry" in GRAPH["reclake.stages.publish"]


def test_no_stage_imports_another_stage():
    stages = {name for name in MODULES if name.startswith("reclake.stages.")}
    offenders = {stage: sorted(GRAPH[stage] & stages) for stage in stages if GRAPH[stage] & stages}
    assert not offenders, offenders


def test_no_module_outside_the_pipeline_and_cli_imports_a_stage():
    stages = {name for name in MODULES if name.startswith("reclake.stages.")}
    importers = {name for name, deps in GRAPH.items() if deps & stages and not name.startswith("reclake.stages.")}
    assert importers <= {"reclake.pipeline"}, importers


def test_no_import_cycle():
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(GRAPH[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(GRAPH):
        visit(name, [])


def fresh_interpreter(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new Python (the installed reclake), from outside the checkout."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO.parent, timeout=120)


@pytest.mark.parametrize(
    "statement",
    [
        "import reclake.serving, reclake.serving.api, reclake.serving.registry",
        "import reclake.cli; reclake.cli.main(['--help'])",
        "import reclake.serving.lookup as m; m.main(['--help'])",
        "import reclake.serving.api as m; m.main(['--help'])",
        f"sys.path.insert(0, {str(REPO / 'dags')!r}); import reclake_pipeline",
    ],
    ids=["serving", "cli-help", "lookup-cli", "serve-cli", "dag-file"],
)
def test_the_spark_free_side_never_imports_spark(statement):
    code = (
        "import sys\n"
        "try:\n"
        f"    {statement}\n"
        "except SystemExit:\n"
        "    pass\n"
        f"loaded = [m for m in {SPARK_MODULES!r} if m in sys.modules]\n"
        "assert not loaded, f'imported {loaded}'\n"
    )
    done = fresh_interpreter(code)
    assert done.returncode == 0, done.stderr[-3000:]


def test_jobs_is_not_an_importable_package_outside_the_checkout():
    done = fresh_interpreter(
        "import importlib.util, reclake; print(importlib.util.find_spec('jobs'), reclake.__file__)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("None "), done.stdout
