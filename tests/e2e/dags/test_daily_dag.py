"""The daily DAG run by Airflow's dag.test() through real spark-submit on generated data: first on a Spark
standalone cluster with the code shipped as the packaged artefact, then again for the date in local[2]."""

from __future__ import annotations

import pandas as pd
from deltalake import DeltaTable

from tests.helpers import DAG_RUN_DATE, DAG_TABLES, DAG_TOP_N, check_recommendations, run_daily, states

ALERTS: list[dict] = []


def record_alert(context) -> None:
    """The alert target the failure test configures through the Variable reclake_alert_callback."""
    ALERTS.append({"task_id": context["ti"].task_id, "ds": context["ds"], "error": str(context.get("exception"))})


def test_first_run_on_the_cluster_trains_and_publishes_top_n_unseen_items_for_every_user(daily_runs, cluster, dagbag):
    lakehouse, [(dag_run, task_states, tables), _] = daily_runs
    assert dag_run.state == "success", task_states
    assert task_states.pop("ingest") == "skipped", "no kafka section: the events arrive as files"
    assert set(task_states.values()) == {"success"}, "no model yet: the first run must train"
    # Every job that ran was an application of the cluster, its executors fetching the artefact.
    apps = sorted(cluster[0].glob("work/worker-*/app-*"))
    spark_jobs = [t for t in dagbag.dags["reclake_daily"].tasks if hasattr(t, "application") and t.task_id != "ingest"]
    assert len({app.name for app in apps}) == len(spark_jobs), apps
    assert all(list(app.glob("*/reclake-*.zip")) for app in apps), "an executor ran without the artefact"
    recs = DeltaTable(str(lakehouse / "recommendations")).to_pandas()
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    assert events["user_id"].nunique() == 200
    check_recommendations(recs, events, DAG_TOP_N)
    assert set(recs["run_date"]) == {DAG_RUN_DATE}
    registry = tables["model_registry"][0]
    assert len(registry) == 1 and set(recs["model_version"]) == set(registry["model_version"])


def test_second_run_in_local_mode_reuses_the_model_and_leaves_the_same_tables(daily_runs):
    lakehouse, [(_, _, first), (second_run, task_states, second)] = daily_runs
    assert second_run.state == "success", task_states
    assert task_states["train"] == task_states["evaluate"] == task_states["ingest"] == "skipped"  # model approved
    assert {k: v for k, v in task_states.items() if k not in ("train", "evaluate", "ingest")} == dict.fromkeys(
        ["check_config", "kafka_configured", "validate", "prepare", "retrain_due", "recommend", "publish", "maintain"],
        "success",
    )
    # Local mode computes what the cluster did: the same rows, floats to their last few bits.
    for name in DAG_TABLES:
        pd.testing.assert_frame_equal(second[name][0], first[name][0], obj=name, check_exact=False, rtol=1e-5)
    # Id maps are append-only and nothing was new: not even a new Delta version.
    assert second["user_ids"][1] == first["user_ids"][1] and second["item_ids"][1] == first["item_ids"][1]
    # The publish replaced the date's rows in one new commit instead of appending a copy;
    # the only other commits are maintain's VACUUM START/END records.
    history = DeltaTable(str(lakehouse / "recommendations")).history()
    new_operations = [commit["operation"] for commit in history if commit["version"] > first["recommendations"][1]]
    assert [op for op in new_operations if not op.startswith("VACUUM")] == ["WRITE"], new_operations


def test_publish_records_an_asset_event_naming_the_run_date(daily_runs):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    _, runs = daily_runs
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "reclake_recommendations")
            .all()
        )
        extras = [(event.source_task_id, event.extra) for event in events]
    for dag_run, _, _ in runs:
        assert ("publish", {"run_date": DAG_RUN_DATE.isoformat(), "run_id": dag_run.run_id}) in extras


def test_latest_model_date_reads_the_registry_the_run_wrote(daily_runs):
    from reclake.serving.registry import latest_model_date

    lakehouse, _ = daily_runs
    assert latest_model_date(str(lakehouse)) == DAG_RUN_DATE


def test_a_bad_override_fails_once_before_spark_and_alerts(daily_runs, dagbag, airflow_env, synthetic_input, tmp_path):
    airflow_env.setenv("AIRFLOW_VAR_RECLAKE_ALERT_CALLBACK", f"{__name__}.record_alert")
    ALERTS.clear()
    dag_run = run_daily(dagbag.dags["reclake_daily"], tmp_path / "lakehouse", synthetic_input, overrides=["als.rnak=3"])
    assert dag_run.state == "failed"
    task_states = states(dag_run)
    assert task_states["check_config"] == "failed"
    assert {task_states[t] for t in task_states if t != "check_config"} == {"upstream_failed"}
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "check_config"]
    assert ti.try_number == 1, "a configuration error is not retried"
    assert len(ALERTS) == 1 and ALERTS[0]["task_id"] == "check_config" and ALERTS[0]["ds"] == DAG_RUN_DATE.isoformat()
    assert "als.rnak: unknown key" in ALERTS[0]["error"]
    assert not (tmp_path / "lakehouse").exists(), "nothing ran"
