"""The command line's path shortcuts set paths as given: `--input` and `--lakehouse` are never parsed as YAML.

They used to become `--set input.path=...` strings read as YAML, so `--input 'data/x #1.csv'` read `data/x`
(a YAML comment) and `--lakehouse '/data/lh: a'` was refused as a mapping. Each name below holds one of the
characters YAML or a URI parser could take for syntax; each file holds a different number of rows, so reading
the wrong one (or a prefix of the name) shows. A ':' in a name is the one thing Hadoop's paths cannot hold
(``name:`` reads as a URI scheme), so it is refused at load time, in one line naming the key.
"""

from __future__ import annotations

import argparse

import pytest
from deltalake import DeltaTable

from reclake.context import RunContext
from reclake.io.raw import read_raw
from reclake.runner import add_common_options, config_from_args
from reclake.stages import validate

NAMES = {
    "hash": "events #1.csv",
    "spaces": "two  spaces .csv",
    "quotes": 'it\'s "quoted".csv',
    "non_ascii": "événements-日本.csv",
    "yaml_like": "[a, b] {c, d} & *e ! | >.csv",
}
HEADER = "user_id,item_id,event_type,value,timestamp\n"


def write_events(path, rows: int) -> None:
    path.write_text(HEADER + "".join(f"u{i},i{i % 7},view,,2026-11-20T08:30:00Z\n" for i in range(rows)))


def parse(*argv: str):
    parser = argparse.ArgumentParser()
    add_common_options(parser)
    return config_from_args(parser.parse_args(list(argv)))


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_shortcuts_keep_the_path_as_given(tmp_path, name):
    config = parse("--input", str(tmp_path / name), "--lakehouse", str(tmp_path / f"lh {name}"))
    assert config.input.path == str(tmp_path / name)
    assert config.lakehouse.root == str(tmp_path / f"lh {name}")


def test_a_relative_shortcut_resolves_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse("--input", "data/x #1.csv").input.path == str(tmp_path / "data" / "x #1.csv")


def test_set_still_parses_yaml_and_the_shortcut_wins(tmp_path):
    config = parse("--set", "input.path=elsewhere", "--input", str(tmp_path / "x #1.csv"), "--set", "tune.rank=[8, 16]")
    assert config.input.path == str(tmp_path / "x #1.csv")
    assert config.tune.rank == [8, 16]


def test_every_shortcut_path_reads_its_own_file(spark, tmp_path):
    for rows, name in enumerate(NAMES.values(), start=3):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_events(tmp_path / name, rows)
    for rows, name in enumerate(NAMES.values(), start=3):
        config = parse("--input", str(tmp_path / name), "--lakehouse", str(tmp_path / "lh"))
        raw = read_raw(spark, config.input, config.batch_path(RunContext.new().run_date))
        assert raw.count() == rows, name


def test_validate_reads_and_writes_through_awkward_paths(run_cli, tmp_path):
    awkward = 'lh #1 été "q" \'s [x] {y}'
    source = tmp_path / "in été" / "events #1.csv"
    source.parent.mkdir()
    write_events(source, 11)
    lakehouse = tmp_path / awkward
    status, summary = run_cli(
        validate.main, "--input", str(source), "--lakehouse", str(lakehouse), "--run-date", "2026-11-20"
    )
    assert status == 0, summary.get("error")
    assert summary["counts"]["validate"]["raw_rows"] == 11
    assert DeltaTable(str(lakehouse / "events")).to_pyarrow_table().num_rows == 11


@pytest.mark.parametrize("option", ["--input", "--lakehouse"])
def test_a_colon_in_a_path_is_refused_in_one_line_before_anything_is_written(run_cli, tmp_path, option):
    other = {"--input": "--lakehouse", "--lakehouse": "--input"}[option]
    status, summary = run_cli(validate.main, option, str(tmp_path / "lh: a" / "x"), other, str(tmp_path / "b"))
    assert status == 2
    key = {"--input": "input.path", "--lakehouse": "lakehouse.root"}[option]
    assert f"{key}: Spark (Hadoop) cannot read or write a local path with ':'" in summary["error"]
    assert not (tmp_path / "b").exists()
