"""The docs' lists kept true: the packages, the layers, the jobs and the paths they name are the code's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from reclake.cli import JOBS, MODULES
from tests.helpers import REPO

ARCHITECTURE = (REPO / "docs" / "architecture.md").read_text()
PACKAGE = REPO / "reclake"


def package_rows() -> dict[str, str]:
    """architecture.md's package table: first cell (each `reclake/...` it names) -> the whole row."""
    section = ARCHITECTURE.split("## The packages", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `reclake/"):
            first = line.split("|")[1]
            for name in re.findall(r"`(reclake/[^`]+)`", first):
                rows[name] = line
    return rows


def test_every_module_of_the_package_is_in_the_package_table():
    rows = package_rows()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(REPO)
        if relative.parent == Path("reclake"):
            if relative.as_posix() not in rows:
                missing.append(relative.as_posix())
            continue
        row = rows.get(f"reclake/{relative.parts[1]}/")
        if row is None:
            missing.append(f"reclake/{relative.parts[1]}/ (a row)")
        elif path.name != "__init__.py" and f"`{path.stem}`" not in row:
            missing.append(relative.as_posix())
    assert not missing, f"docs/architecture.md's package table does not name: {missing}"


def test_the_package_table_names_nothing_that_is_gone():
    gone = [name for name in package_rows() if not (REPO / name).exists()]
    assert not gone, gone


def test_the_layers_in_the_docs_are_the_contract_in_pyproject():
    # tomllib is Python 3.11+; the layers contract's list is also a Python literal.
    pyproject = (REPO / "pyproject.toml").read_text()
    (listed,) = re.findall(r'^type = "layers"\n(?:\w+ = .*\n)*?layers = (\[.*?\])\n', pyproject, flags=re.M | re.S)
    layers = ast.literal_eval(listed)
    section = ARCHITECTURE.split("## Layers", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\d+\. `([^`]+)`: ", section, flags=re.MULTILINE)
    assert documented == layers and len(layers) == 10


def test_every_job_is_in_the_docs_job_lists():
    operations = (REPO / "docs" / "operations.md").read_text()
    table_text = operations.split("| job | reads | writes |", 1)[1].split("\n\n", 1)[0]
    table = re.findall(r"^\| `([a-z]+)` \|", table_text, flags=re.MULTILINE)
    assert sorted(table) == sorted(JOBS), "docs/operations.md's job table"
    cli_row = package_rows()["reclake/cli.py"]
    assert re.findall(r"`([a-z]+)`", cli_row.split("JOBS", 1)[1].split("MODULES", 1)[0]) == list(JOBS)
    stages = {module.rsplit(".", 1)[1] for module in MODULES.values() if module.startswith("reclake.stages.")}
    stages_row = package_rows()["reclake/stages/"]
    assert {stage for stage in stages if f"`{stage}`" not in stages_row} == set()


def test_every_reclake_path_the_docs_name_exists():
    pages = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
    stale = []
    for page in pages:
        # `reclake/...` at the start of a path (not /opt/reclake/...), up to the end of the path.
        for name in set(re.findall(r"(?<![\w/.-])reclake/[\w/.*<>-]*", page.read_text())):
            name = name.rstrip(".")
            if "<" in name:  # a pattern such as reclake/stages/<job>.py
                name = re.sub(r"<[^>]*>", "*", name)
            if not list(REPO.glob(name)) and not (REPO / name).exists():
                stale.append(f"{page.relative_to(REPO)}: {name}")
    assert not stale, stale
