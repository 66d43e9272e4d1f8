"""The daily DAG by Airflow's dag.test(): a bad override fails once in check_config, before any Spark, and alerts.
The whole DAG runs under the running Airflow of test_scheduler.py, on the standalone cluster and in local mode."""

from __future__ import annotations

from tests.helpers import DAG_RUN_DATE, run_daily, states

ALERTS: list[dict] = []


def record_alert(context) -> None:
    """The alert target the failure test configures through the Variable reclake_alert_callback."""
    ALERTS.append({"task_id": context["ti"].task_id, "ds": context["ds"], "error": str(context.get("exception"))})


def test_a_bad_override_fails_once_before_spark_and_alerts(dagbag, airflow_env, tmp_path):
    airflow_env.setenv("AIRFLOW_VAR_RECLAKE_ALERT_CALLBACK", f"{__name__}.record_alert")
    ALERTS.clear()
    dag_run = run_daily(
        dagbag.dags["reclake_daily"], tmp_path / "lakehouse", tmp_path / "events", overrides=["als.rnak=3"]
    )
    assert dag_run.state == "failed"
    task_states = states(dag_run)
    assert task_states["check_config"] == "failed"
    assert {task_states[t] for t in task_states if t != "check_config"} == {"upstream_failed"}
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "check_config"]
    assert ti.try_number == 1, "a configuration error is not retried"
    assert len(ALERTS) == 1 and ALERTS[0]["task_id"] == "check_config" and ALERTS[0]["ds"] == DAG_RUN_DATE.isoformat()
    assert "als.rnak: unknown key" in ALERTS[0]["error"]
    assert not (tmp_path / "lakehouse").exists(), "nothing ran"
