"""Edge-shaped data runs the whole pipeline to a correct output, never a crash.

Each case is a real `reclake run` (validate ... publish) on events written here;
the expected lists are worked out from the input alone: every user gets exactly
the catalogue items they have not had, up to N (the catalogue is smaller than N
in every case, so that is all of them), and a user who has had everything gets
an empty list. The quality gate is off: on data this degenerate no model can
beat popularity, and whether it may is the gate's concern, tested elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from deltalake import DeltaTable

from reclake import pipeline

RUN_DATE = "2026-11-23"
T = "2026-11-22T10:00:00Z"
TOP_N = 10


def had(pairs: dict[str, list[str]]) -> list[str]:
    return [f"{user},{item},view,,{T}" for user, items in pairs.items() for item in items]


def heavy_user(events: int) -> Iterator[str]:
    """One user's ``events`` views of i1 and i2, a millisecond apart (so none is a copy of another)."""
    start = dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc)
    for n in range(events):
        when = start + dt.timedelta(milliseconds=n)
        yield f"heavy,i{1 + n % 2},view,,{when:%Y-%m-%dT%H:%M:%S.%f}Z"


CASES = {
    # name: (events as CSV lines, als.rank). The catalogue is every item in them; one user has all of it.
    "one_user": (had({"u1": ["i1", "i2", "i3"]}), 1),
    "one_item": (had({f"u{n}": ["i1"] for n in range(5)}), 1),
    "every_user_has_every_item": (had({f"u{n}": ["i1", "i2", "i3", "i4"] for n in range(5)}), 2),
    "an_item_everyone_has_and_a_heavy_user": (
        had({f"u{n}": ["i0", f"i{1 + n % 5}", f"i{1 + (n + 2) % 5}"] for n in range(20)}) + had({"heavy": ["i0"]}),
        2,
    ),
}


def expected_lists(lines: list[str]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for line in lines:
        user, item = line.split(",")[:2]
        seen.setdefault(user, set()).add(item)
    catalogue = set().union(*seen.values())
    return {user: catalogue - items for user, items in seen.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_edge_shaped_data_publishes_every_item_a_user_lacks(run_cli, tmp_path, name):
    lines, rank = CASES[name]
    path = tmp_path / "in" / "events.csv"
    path.parent.mkdir()
    with path.open("w") as out:
        out.write("user_id,item_id,event_type,value,timestamp\n")
        out.writelines(f"{line}\n" for line in lines)
        if name.endswith("heavy_user"):
            out.writelines(f"{line}\n" for line in heavy_user(1_000_000))
    lakehouse = tmp_path / "lakehouse"
    sets = [f"als.rank={rank}", "als.max_iter=3", f"recommend.top_n={TOP_N}", "evaluate.gate=false",
            "recommend.similar_items_top_n=3"]  # fmt: skip
    status, summary = run_cli(
        pipeline.main, "--input", str(path), "--lakehouse", str(lakehouse), "--run-date", RUN_DATE,
        *(a for s in sets for a in ("--set", s)),
    )  # fmt: skip
    assert status == 0, summary.get("error")
    expected = expected_lists(lines + (["heavy,i1", "heavy,i2"] if name.endswith("heavy_user") else []))
    published = DeltaTable(str(lakehouse / "recommendations")).to_pyarrow_table().to_pylist()
    got: dict[str, list[tuple[int, str]]] = {}
    for row in published:
        got.setdefault(row["user_id"], []).append((row["rank"], row["item_id"]))
    assert {u: {i for _, i in rows} for u, rows in got.items()} == {u: s for u, s in expected.items() if s}
    assert all(sorted(r for r, _ in rows) == list(range(1, len(rows) + 1)) for rows in got.values())
    if name.endswith("heavy_user"):
        assert summary["counts"]["validate"]["valid_rows"] == len(lines) + 1_000_000
