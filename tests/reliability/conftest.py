"""Helpers of the reliability scenarios: real `reclake` processes on a copy of the golden lakehouse, and
what every reader sees of the published tables afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

from deltalake import DeltaTable

from reclake.faults import FAULT_ENV
from reclake.serving import LookupClient

from ..conftest import REPO, Golden, spark_overrides

PUBLISHED = ("recommendations", "similar_items")
# What identifies a published list, in order: a run's output is compared on these (scores are floats).
LIST_COLUMNS = {
    "recommendations": ("user_id", "rank", "item_id"),
    "similar_items": ("item_id", "rank", "similar_item_id"),
}


def start_job(job: str, root: Path, *extra: str, fault: str | None = None) -> subprocess.Popen:
    """`reclake <job>` with the golden run's settings, as a real process leading its own process group."""
    env = {key: value for key, value in os.environ.items() if key != FAULT_ENV}
    env["PYTHONPATH"] = str(REPO)
    if fault is not None:
        env[FAULT_ENV] = fault
    command = [sys.executable, "-m", "reclake.cli", job, *spark_overrides(), *Golden.args(root), *extra, "--json"]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def group_alive(pgid: int) -> list[int]:
    """Processes of the group ``pgid`` that still run (zombies waiting to be reaped do not count)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def published_lists(root: Path, table: str) -> list[tuple]:
    """The table's rows as read by deltalake (delta-rs), ordered: the identity of a published run."""
    columns = LIST_COLUMNS[table]
    rows = DeltaTable(str(root / table)).to_pyarrow_table(columns=list(columns)).to_pylist()
    return sorted(tuple(row[c] for c in columns) for row in rows)


def assert_every_reader_sees(root: Path, spark, expected: dict[str, list[tuple]]) -> dict[str, tuple[int, int]]:
    """delta-spark, deltalake and the lookup client all read exactly ``expected``.

    Returns, per table, (its newest committed version, the version the lookup client serves).
    """
    versions = {}
    for table, rows in expected.items():
        columns = LIST_COLUMNS[table]
        by_spark = spark.read.format("delta").load(str(root / table)).select(*columns).collect()
        assert sorted(tuple(row) for row in by_spark) == rows, f"{table} as delta-spark reads it"
        assert published_lists(root, table) == rows, f"{table} as deltalake reads it"
        versions[table] = DeltaTable(str(root / table)).version()
    client = LookupClient(str(root), refresh_s=0)
    recommended = expected["recommendations"]
    for user in {recommended[0][0], recommended[len(recommended) // 2][0], recommended[-1][0]}:
        answer = client.recommendations_for(user)
        assert [(user, i["rank"], i["item_id"]) for i in answer["items"]] == [r for r in recommended if r[0] == user]
    similar = expected["similar_items"]
    item = similar[0][0]
    neighbours = client.similar_items(item)
    assert [(item, i["rank"], i["similar_item_id"]) for i in neighbours["items"]] == [
        r for r in similar if r[0] == item
    ]
    served = {"recommendations": answer["table_version"], "similar_items": neighbours["table_version"]}
    return {table: (versions[table], served[table]) for table in expected}


def orphan_files(root: Path, table: str) -> set[str]:
    """Data files in the table's folder that no commit of its log ever added: what a killed writer left."""
    table_dir = root / table
    on_disk = {str(p.relative_to(table_dir)) for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts}
    added = set()
    for commit in (table_dir / "_delta_log").glob("*.json"):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                added.add(unquote(action["add"]["path"]))
    return on_disk - added
