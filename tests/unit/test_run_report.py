"""The HTML run report's page, rendered from a hand-made summary: sections, inline images, no network; where it goes."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

from reclake.config import load_config
from reclake.io.lakehouse import write_text
from reclake.monitoring.run_report import SECTIONS, ReportData, metrics_section, render, report_uri

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_failed_runs_page_has_every_section_inline_and_says_what_failed():
    summary = {
        "job": "reclake run",
        "status": "failed",
        "run_id": "r-1",
        "run_date": "2026-11-23",
        "failed_stage": "validate",
        "error": "ValidationFailed: 12.0% of rows quarantined <above> 5.0%",
        "counts": {"validate": {"raw_rows": 100, "valid_rows": 88, "rule.user_id_missing": 12, "quarantined_rows": 12}},
        "timings_s": {"validate": 3.5, "total": 4.0},
    }
    models = [  # the registry's earlier models: the history shows even when this run failed before evaluate
        {
            "model_version": f"m{day}",
            "created_at": dt.datetime(2026, 11, day, 6),
            "status": status,
            "metrics": {"k": 10, "model": {"ndcg": ndcg}, "popularity": {"ndcg": 0.25}},
        }
        for day, status, ndcg in [(21, "published", 0.41), (22, "rejected", 0.2)]
    ]
    page = render(summary, ReportData(models=models), load_config(None, []))
    assert re.findall(r"<h2>(.*?)</h2>", page) == list(SECTIONS)
    assert "failed in validate: ValidationFailed: 12.0% of rows quarantined &lt;above&gt; 5.0%" in page
    assert "12 of 100 rows quarantined (12.00%), above the gate of 5.00%" in page
    assert "this run evaluated no model" in page and "this run staged no recommendations" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)  # nothing fetched from anywhere
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)">', page)
    assert [alt for alt, _ in images] == [
        "Seconds per stage",
        "Rows through the pipeline",
        "Rows breaking each rule",
        "ndcg@10 of every evaluated model (by creation time, UTC)",
    ]
    # Newest model first in the table.
    assert re.findall(r"<tr><td>(m2\d)</td><td>[^<]*</td><td>(\w+)</td>", page) == [
        ("m22", "rejected"),
        ("m21", "published"),
    ]
    assert all(base64.b64decode(data).startswith(PNG_SIGNATURE) for _, data in images)


def test_an_airflow_run_id_names_a_report_file_hadoop_can_write(spark, tmp_path):
    # Airflow's run ids hold ':' and '+', which Hadoop refused as a file name ("Relative path in absolute URI").
    run_id = "manual__2026-12-03T04:47:32.954750+00:00"
    uri = report_uri({"run_id": run_id, "tables": {}}, load_config(None, [f"lakehouse.root={tmp_path}"]))
    write_text(spark, uri, "<html></html>")
    assert Path(uri).name == "run-manual__2026-12-03T04-47-32.954750-00-00.html"
    assert Path(uri).read_text() == "<html></html>"


def test_a_catalogue_runs_cold_start_figures_and_content_map_are_listed_without_a_baseline():
    evaluated = {
        "ndcg@10": 0.47,
        "baseline_ndcg@10": 0.23,
        "new_items.recall@10": 0.32,  # the cold-start figures have no popularity counterpart
        "content_map.text_on": 0.0,
    }
    page = metrics_section({"metrics": {"evaluate": evaluated}, "gate": "approved"})
    rows = re.findall(r"<tr><td>(.*?)</td>", page)
    assert rows == ["ndcg@10", "new_items.recall@10", "content_map.text_on"]
