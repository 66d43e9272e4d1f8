"""Bad configuration is refused before the first write, with one line naming the key, exit status 2.

The refusals that need no data happen before the log file and the Spark session
(the lakehouse folder is not even created); those that need the data (a rank
above the number of items) happen before the stage writes anything.
"""

from __future__ import annotations

import pytest

from reclake.stages import recommend, validate
from tests.helpers import csv_input, refuse


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing_input", ["InputError", "input not found"]),
        ("lakehouse_is_the_input", ["ConfigError", "lakehouse.root", "input.path"]),
        ("lakehouse_inside_the_input", ["ConfigError", "lakehouse.root", "input.path"]),
        ("unknown_key", ["ConfigError", "validation.max_quarantine_shares: unknown key"]),
        ("top_n_zero", ["ConfigError", "recommend.top_n", "greater than 0"]),
        ("top_n_negative", ["ConfigError", "recommend.top_n", "greater than 0"]),
        ("unknown_encoding", ["ConfigError", "input.encoding: not a known character set"]),
    ],
)
def test_bad_configuration_is_refused_before_anything_is_written(capsys, tmp_path, case, words):
    source, lakehouse = tmp_path / "in", tmp_path / "lakehouse"
    if case.startswith("lakehouse_"):
        csv_input(source)
    args = {
        "missing_input": ["--input", str(source), "--lakehouse", str(lakehouse)],
        "lakehouse_is_the_input": ["--input", str(source), "--lakehouse", str(source)],
        "lakehouse_inside_the_input": ["--input", str(source), "--lakehouse", str(source / "lh")],
        "unknown_key": ["--lakehouse", str(lakehouse), "--set", "validation.max_quarantine_shares=0.1"],
        "top_n_zero": ["--lakehouse", str(lakehouse), "--set", "recommend.top_n=0"],
        "top_n_negative": ["--lakehouse", str(lakehouse), "--set", "recommend.top_n=-5"],
        "unknown_encoding": ["--lakehouse", str(lakehouse), "--set", "input.encoding=utf-99"],
    }[case]
    error = refuse(capsys, recommend.main if case.startswith("top_n") else validate.main, *args)
    assert all(w in error for w in words), error
    assert not lakehouse.exists() and not (source / "lh").exists()
    if source.exists():  # the input folder is untouched: no _logs, no tables in it
        assert sorted(p.name for p in source.iterdir()) == ["e.csv"]
