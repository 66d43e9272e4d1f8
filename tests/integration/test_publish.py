"""Publishing: one atomic, idempotent commit per run; readable by deltalake, Polars and pandas; retention; maintain."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from reclake.config import PublishSection, load_config
from reclake.context import RunContext
from reclake.errors import ConfigError
from reclake.io.lakehouse import write_delta
from reclake.io.layout import (
    RECOMMENDATION_COLUMNS,
    SIMILAR_ITEM_COLUMNS,
    expired_before,
    publish_table,
    replace_predicate,
    run_stats,
)
from reclake.io.maintenance import FileStats, files_by_run_date, needs_clustering
from reclake.io.tables import RECOMMENDATIONS, SIMILAR_ITEMS, STAGED_RECOMMENDATIONS, STAGED_SIMILAR_ITEMS, table_uri
from reclake.serving.lookup import LookupClient, NotFound
from reclake.stages import maintain, publish, rollback
from tests.helpers import REPO

D1, D2, D3 = dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23)


def staged_rows(run_date: dt.date, model: str, users: int, ranks: int = 3, bump: float = 0.0) -> list[tuple]:
    """Hand-built staged recommendations: user uNNN gets items iNNN.R with score 1/rank + bump."""
    return [
        (f"u{u:03d}", r, f"i{u:03d}.{r}", round(1.0 / r + bump, 6), "als", model, run_date)
        for u in range(users)
        for r in range(1, ranks + 1)
    ]


def stage(
    spark, lakehouse: Path, rows: list[tuple], name: str = STAGED_RECOMMENDATIONS, columns=RECOMMENDATION_COLUMNS
):
    df = spark.createDataFrame(rows, list(columns))
    write_delta(df, table_uri(str(lakehouse), name))


def staged_df_schema(spark):
    """The staged recommendations' schema (for an empty run)."""
    return spark.createDataFrame(staged_rows(D1, "m0", users=1), list(RECOMMENDATION_COLUMNS)).schema


def publish_cli(run_cli, lakehouse: Path, run_date: dt.date, run_id: str, *extra: str):
    return run_cli(
        publish.main,
        "--lakehouse",
        str(lakehouse),
        "--run-date",
        run_date.isoformat(),
        "--set",
        f"run.run_id={run_id}",
        *extra,
    )


def as_tuples(table: pa.Table) -> list[tuple]:
    return sorted(tuple(row[c] for c in RECOMMENDATION_COLUMNS) for row in table.to_pylist())


def recs(lakehouse: Path) -> str:
    return str(lakehouse / "recommendations")


# ------------------------------------------------------------------ pure pieces


def test_expired_before_keeps_the_newest_k_dates_including_this_run():
    assert expired_before(D3, [D1, D2], None) is None
    assert expired_before(D3, [D1, D2], 3) is None
    assert expired_before(D3, [D1, D2], 2) == D2
    assert expired_before(D2, [D1, D2, D3], 1) == D3  # back-filling: the predicate still keeps D2 itself
    assert replace_predicate(D2, D3) == "run_date = '2026-11-22' OR run_date < '2026-11-23'"


def test_needs_clustering_only_when_a_lookup_could_open_two_files():
    laid_out = [FileStats(100, 1, "a", "f"), FileStats(100, 1, "g", "m"), FileStats(40, 1, "n", "z")]
    assert not needs_clustering(laid_out, 100)
    assert needs_clustering([FileStats(100, 1, "a", "h"), FileStats(100, 1, "g", "m")], 100)  # ranges overlap
    assert needs_clustering([FileStats(10, 1, "a", "b"), FileStats(10, 1, "c", "d")], 100)  # two small files


def test_publish_config_is_validated_at_load_time():
    with pytest.raises(ConfigError, match="publish.bigquery"):
        load_config(None, ["publish.sink=bigquery"])
    with pytest.raises(ConfigError, match="publish.retain_runs"):
        load_config(None, ["publish.retain_runs=0"])
    with pytest.raises(ConfigError, match="partition_by_run_date"):
        load_config(None, ["publish.retain_runs=2", "publish.partition_by_run_date=false"])


# ------------------------------------------------------------------ Delta publishing


def test_rerun_of_a_date_replaces_it_and_time_travel_returns_the_previous_run(spark, run_cli, lakehouse):
    first, second = staged_rows(D3, "m1", users=5), staged_rows(D3, "m2", users=4, bump=0.5)
    stage(spark, lakehouse, first)
    status, summary = publish_cli(run_cli, lakehouse, D3, "run-1")
    assert status == 0, summary
    assert summary["counts"]["publish"]["rows"] == 15
    stage(spark, lakehouse, second)
    status, summary = publish_cli(run_cli, lakehouse, D3, "run-2")
    assert status == 0, summary

    table = DeltaTable(recs(lakehouse))
    assert table.version() == 1  # one commit per run
    assert as_tuples(table.to_pyarrow_table()) == sorted(second)  # one copy: the second run's
    meta = json.loads(table.history(1)[0]["userMetadata"])
    assert meta["run_id"] == "run-2" and meta["model_version"] == "m2" and meta["rows"] == 12 and meta["user_ids"] == 4

    assert as_tuples(DeltaTable(recs(lakehouse), version=0).to_pyarrow_table()) == sorted(first)

    runs = DeltaTable(str(lakehouse / "runs")).to_pyarrow_table().sort_by("run_id").to_pylist()
    assert [(r["run_id"], r["status"], r["model_version"]) for r in runs] == [
        ("run-1", "succeeded", "m1"),
        ("run-2", "succeeded", "m2"),
    ]
    assert json.loads(runs[1]["counts"])["publish"]["rows"] == 12


def test_published_table_has_the_documented_schema_in_deltalake_polars_and_pandas(spark, run_cli, lakehouse):
    import pandas as pd
    import polars as pl

    rows = staged_rows(D3, "m1", users=3)
    stage(spark, lakehouse, rows)
    assert publish_cli(run_cli, lakehouse, D3, "run-1")[0] == 0

    documented = json.loads((REPO / "schemas" / "recommendations.schema.json").read_text())
    arrow_kind = {
        "string": pa.types.is_string,
        "integer": pa.types.is_integer,
        "number": pa.types.is_floating,
    }
    schema = DeltaTable(recs(lakehouse)).to_pyarrow_dataset().schema
    assert sorted(schema.names) == sorted(documented["required"])
    for name, spec in documented["properties"].items():
        check = pa.types.is_date32 if spec.get("format") == "date" else arrow_kind[spec["type"]]
        assert check(schema.field(name).type), (name, schema.field(name).type)

    polars_frame = pl.read_delta(recs(lakehouse))
    assert polars_frame.schema["run_date"] == pl.Date and polars_frame.schema["rank"].is_integer()
    assert sorted(polars_frame.select(RECOMMENDATION_COLUMNS).rows()) == sorted(rows)

    pandas_frame = DeltaTable(recs(lakehouse)).to_pandas()
    assert len(pandas_frame) == len(rows)
    assert pd.api.types.is_float_dtype(pandas_frame["score"]) and set(pandas_frame["model_version"]) == {"m1"}


def test_files_hold_disjoint_user_ranges_so_a_lookup_opens_one_file(spark, run_cli, lakehouse):
    rows = staged_rows(D3, "m1", users=40)
    stage(spark, lakehouse, rows)
    status, summary = publish_cli(run_cli, lakehouse, D3, "run-1", "--set", "publish.target_file_rows=30")
    assert status == 0 and summary["counts"]["publish"]["files"] == 4  # ceil(120 / 30)

    table = DeltaTable(recs(lakehouse))
    actions = pa.table(table.get_add_actions(flatten=True)).to_pydict()
    assert len(actions["path"]) == 4
    ranges = sorted(zip(actions["min.user_id"], actions["max.user_id"]))
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    for user in ("u000", "u017", "u039"):
        assert len(table.file_uris(file_pruning_predicate=[("user_id", "=", user)])) == 1
    for path in table.file_uris():  # sorted by user, then rank, inside each file
        import pyarrow.parquet as pq

        keys = [(r["user_id"], r["rank"]) for r in pq.read_table(path, columns=["user_id", "rank"]).to_pylist()]
        assert keys == sorted(keys)


def test_retention_drops_old_run_dates_in_the_same_commit(spark, run_cli, lakehouse):
    for i, day in enumerate((D1, D2, D3)):
        stage(spark, lakehouse, staged_rows(day, f"m{i}", users=2))
        assert publish_cli(run_cli, lakehouse, day, f"run-{i}", "--set", "publish.retain_runs=2")[0] == 0
    table = DeltaTable(recs(lakehouse))
    assert table.version() == 2
    assert sorted({r["run_date"] for r in table.to_pyarrow_table(columns=["run_date"]).to_pylist()}) == [D2, D3]
    assert json.loads(table.history(1)[0]["userMetadata"])["expired_before"] == D2.isoformat()
    assert {p["run_date"] for p in table.partitions()} == {D2.isoformat(), D3.isoformat()}


def test_failed_publish_is_recorded_in_runs_and_leaves_the_table_alone(spark, run_cli, lakehouse):
    stage(spark, lakehouse, staged_rows(D3, "m1", users=2))
    assert publish_cli(run_cli, lakehouse, D3, "run-ok")[0] == 0
    status, summary = publish_cli(run_cli, lakehouse, D2, "run-'bad'")  # nothing staged for D2; a quote in the id
    assert status == 2 and "reclake recommend --run-date 2026-11-22" in summary["error"]
    assert DeltaTable(recs(lakehouse)).version() == 0
    runs = {r["run_id"]: r for r in DeltaTable(str(lakehouse / "runs")).to_pyarrow_table().to_pylist()}
    bad = runs["run-'bad'"]
    assert bad["status"] == "failed" and "no rows for run date" in bad["error"]
    assert bad["run_date"] == D2 and runs["run-ok"]["status"] == "succeeded" and len(runs) == 2


def test_similar_items_are_published_when_staged(spark, run_cli, lakehouse):
    stage(spark, lakehouse, staged_rows(D3, "m1", users=2))
    similar = [("i1", 1, "i2", 0.9, "m1", D3), ("i1", 2, "i3", 0.5, "m1", D3), ("i2", 1, "i1", 0.9, "m1", D3)]
    stage(spark, lakehouse, similar, STAGED_SIMILAR_ITEMS, SIMILAR_ITEM_COLUMNS)
    status, summary = publish_cli(run_cli, lakehouse, D3, "run-1")
    assert status == 0 and summary["counts"]["publish"]["similar_rows"] == 3
    table = DeltaTable(str(lakehouse / "similar_items")).to_pyarrow_table()
    assert sorted(tuple(r[c] for c in SIMILAR_ITEM_COLUMNS) for r in table.to_pylist()) == sorted(similar)


def test_maintain_reclusters_overlapping_files_only_and_vacuums(spark, run_cli, lakehouse):
    # D2 published (laid out, no runs table to maintain); D1 appended in three overlapping small batches.
    uri = recs(lakehouse)
    laid = spark.createDataFrame(staged_rows(D2, "m1", users=30), list(RECOMMENDATION_COLUMNS))
    settings = PublishSection(target_file_rows=30)
    publish.publish_table(
        laid,
        str(lakehouse),
        RECOMMENDATIONS,
        publish.run_stats(laid, "user_id"),
        ctx=RunContext(D2, "r"),
        settings=settings,
    )
    appended = []
    for batch in range(3):
        rows = [r for r in staged_rows(D1, "m0", users=30) if int(r[0][1:]) % 3 == batch]
        appended += rows
        write_delta(
            spark.createDataFrame(rows, list(RECOMMENDATION_COLUMNS)).repartition(1),
            uri,
            mode="append",
            partition_by=["run_date"],
        )
    before = DeltaTable(uri)
    laid_out_files = set(before.file_uris(file_pruning_predicate=[("run_date", "=", D2.isoformat())]))
    contents = as_tuples(before.to_pyarrow_table())

    status, summary = run_cli(
        maintain.main,
        "--lakehouse",
        str(lakehouse),
        "--set",
        "publish.target_file_rows=30",
        "--set",
        "publish.vacuum_retention_hours=0",
    )
    assert status == 0, summary
    assert summary["counts"]["maintain"]["recommendations.partitions_clustered"] == 1

    after = DeltaTable(uri)
    assert as_tuples(after.to_pyarrow_table()) == contents
    assert set(after.file_uris(file_pruning_predicate=[("run_date", "=", D2.isoformat())])) == laid_out_files
    d1 = [f for f in files_by_run_date(uri, "user_id")[D1.isoformat()]]
    assert not needs_clustering(d1, 30)
    on_disk = {str(p) for p in Path(uri).rglob("*.parquet")}
    assert on_disk == set(after.file_uris())  # vacuum removed every file no current version needs
    with pytest.raises(Exception):  # noqa: B017 - delta-rs or Arrow, depending on which notices first
        DeltaTable(uri, version=1).to_pyarrow_table()  # its appended files are gone


def test_maintain_never_vacuums_the_files_of_the_version_readers_serve(spark, run_cli, lakehouse):
    stage(spark, lakehouse, staged_rows(D2, "m1", users=4))
    assert publish_cli(run_cli, lakehouse, D2, "run-d2")[0] == 0
    served = LookupClient(str(lakehouse), refresh_s=0).recommendations_for("u001")
    # A publish killed before served_versions: D2 written again, committed, never served.
    again = spark.createDataFrame(staged_rows(D2, "m2", users=4, bump=0.5), list(RECOMMENDATION_COLUMNS))
    ctx = RunContext(D2, "killed-before-served")
    publish_table(
        again, str(lakehouse), RECOMMENDATIONS, run_stats(again, "user_id"), ctx=ctx, settings=PublishSection()
    )
    status, summary = run_cli(maintain.main, "--lakehouse", str(lakehouse), "--set", "publish.vacuum_retention_hours=0")
    assert status == 0, summary
    # The served version's files are all still there: a new reader opens them.
    assert LookupClient(str(lakehouse), refresh_s=0).recommendations_for("u001") == served
    assert DeltaTable(recs(lakehouse), version=0).to_pyarrow_table().num_rows == 12


def test_readers_follow_served_versions_across_tables_and_an_empty_run_is_served_as_its_date(spark, run_cli, lakehouse):
    similar = [("i1", 1, "i2", 0.9, "m1", D2), ("i2", 1, "i1", 0.9, "m1", D2)]
    stage(spark, lakehouse, staged_rows(D2, "m1", users=2))
    stage(spark, lakehouse, similar, STAGED_SIMILAR_ITEMS, SIMILAR_ITEM_COLUMNS)
    assert publish_cli(run_cli, lakehouse, D2, "run-d2")[0] == 0
    served = DeltaTable(str(lakehouse / "served_versions")).to_pyarrow_table().sort_by("table_name").to_pylist()
    assert served == [
        {"table_name": "recommendations", "version": 0, "run_date": D2},
        {"table_name": "similar_items", "version": 0, "run_date": D2},
    ]
    client = LookupClient(str(lakehouse), refresh_s=0)

    # A publish killed after committing similar_items, before served_versions: readers stay on version 0.
    bumped = spark.createDataFrame([(*row[:3], 0.1, "m9", D3) for row in similar], list(SIMILAR_ITEM_COLUMNS))
    ctx = RunContext(D3, "killed-before-served")
    publish_table(
        bumped,
        str(lakehouse),
        SIMILAR_ITEMS,
        run_stats(bumped, "item_id"),
        ctx=ctx,
        settings=PublishSection(),
    )
    assert DeltaTable(str(lakehouse / "similar_items")).version() == 1
    answer = client.similar_items("i1")
    assert (answer["table_version"], answer["run_date"], answer["model_version"]) == (0, D2, "m1")

    # A run for D3 that had nothing to recommend publishes no rows: D3 is served, empty, not D2's lists.
    empty = spark.createDataFrame([], staged_df_schema(spark))
    write_delta(empty, table_uri(str(lakehouse), STAGED_RECOMMENDATIONS), metadata={"run_date": D3.isoformat()})
    status, summary = publish_cli(run_cli, lakehouse, D3, "run-d3-empty")
    assert status == 0 and summary["counts"]["publish"]["rows"] == 0
    with pytest.raises(NotFound, match="not in run 2026-11-23"):
        client.recommendations_for("u000")
    assert client.similar_items("i1")["table_version"] == 0  # this run published no similar items

    # Rolling D3 back serves D2 again (the empty publish left the table itself at version 0).
    status, summary = run_cli(rollback.main, "--lakehouse", str(lakehouse), "--run-date", D3.isoformat())
    assert status == 0, summary.get("error")
    answer = client.recommendations_for("u000")
    assert (answer["run_date"], answer["table_version"], answer["model_version"]) == (D2, 0, "m1")
