"""The package's import rules: the layers in fresh interpreters and in Import Linter.

The layers themselves (leaves at the bottom; no stage importing another; no
import cycle; serving and the CLI never reaching pyspark) are Import Linter
contracts in pyproject.toml, checked by `make lint`; the test here shows that
they bite on a planted upward import. What only a running interpreter can show
is checked here too: the Spark-free side (serving, the CLI's ``--help``, the
DAG file) never loads pyspark or delta-spark.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

SPARK_MODULES = ("pyspark", "delta", "py4j")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(checkout: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package and the contracts in ``checkout`` (no cache: each copy is new)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(checkout / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=checkout,
        env=env,
        timeout=120,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the package and its pyproject.toml, to plant imports in."""
    shutil.copytree(REPO / "reclake", tmp_path / "reclake", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(module: Path, statement: str) -> None:
    """Add ``statement`` after the module's ``from __future__`` line."""
    text = module.read_text()
    future = "from __future__ import annotations\n"
    assert future in text, module
    module.write_text(text.replace(future, f"{future}{statement}  # planted\n", 1))


def test_the_layers_are_kept():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 broken" in done.stdout, done.stdout[-3000:]


@pytest.mark.parametrize(
    ("module", "statement", "contract", "names"),
    [
        (
            "io/tables.py",
            "import reclake.stages.train",
            "Layers: each imports only from the layers below it BROKEN",
            "reclake.io.tables -> reclake.stages.train",
        ),
        (
            "uris.py",
            "from reclake.errors import ReclakeError",
            "Layers: each imports only from the layers below it BROKEN",
            "reclake.uris -> reclake.errors",
        ),
        (
            "stages/prepare.py",
            "from reclake.stages import validate",
            "No stage imports another stage BROKEN",
            "reclake.stages.prepare -> reclake.stages.validate",
        ),
        (
            "serving/registry.py",
            "from reclake.io import lakehouse",
            "No Spark in serving, the CLI or io.tables, even indirectly BROKEN",
            "reclake.serving.registry -> reclake.io.lakehouse",
        ),
        (
            "io/lakehouse.py",
            "import reclake.io.layout",
            "No import cycle among the modules of a package BROKEN",
            ".lakehouse -> .layout",  # the planted edge is the one to remove
        ),
    ],
    ids=["io-imports-a-stage", "leaf-imports-a-leaf", "stage-imports-a-stage", "serving-reaches-spark", "cycle"],
)
def test_a_planted_import_breaks_its_contract(checkout, module, statement, contract, names):
    plant(checkout / "reclake" / module, statement)
    done = lint_imports(checkout)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert contract in done.stdout, done.stdout[-3000:]
    assert names in done.stdout, done.stdout[-3000:]


def fresh_interpreter(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new Python (the installed reclake), from outside the checkout."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO.parent, timeout=120)


@pytest.mark.parametrize(
    "statement",
    [
        "import reclake.serving, reclake.serving.api, reclake.serving.registry, reclake.serving.function",
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
