"""Real-time lists on small in-code item factors: strengths of recent events, refusals, exclusions, eligibility."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from reclake.config import AlsSection, EventsSection, PrepareSection
from reclake.errors import NotFound, RequestRefused
from reclake.features.strengths import merged, scaled, unscaled
from reclake.recommend.foldin import FoldInModel, FoldInSettings, solve_user
from reclake.serving.realtime import RealtimeModel, Recent, realtime_list, recent_sums

RANK_ = 3
PREPARE = PrepareSection(log_scaling=True, log_epsilon=2.0)
SETTINGS = FoldInSettings(AlsSection(rank=RANK_, reg_param=0.2, alpha=3.0), EventsSection().types, PREPARE, 3)
rng = np.random.default_rng(5)
VECTORS = rng.normal(size=(8, RANK_)).astype(np.float32)
# Items a..h, indices 10..17 given out of order; g has content factors only, h may not be recommended.
NAMES = ["c", "a", "b", "d", "e", "f", "g", "h"]
INDICES = [12, 10, 11, 13, 14, 15, 16, 17]


def model() -> RealtimeModel:
    rows = pa.table(
        {
            "item_id": NAMES,
            "item_idx": pa.array(INDICES, pa.int32()),
            "features": pa.array(VECTORS.tolist(), pa.list_(pa.float32())),
            "source": ["als"] * 6 + ["content", "als"],
            "eligible": [True] * 7 + [False],
            "model_version": ["m1"] * 8,
            "settings": [SETTINGS.to_json()] * 8,
            "run_date": [dt.date(2026, 12, 1)] * 8,
        }
    )
    return RealtimeModel.build(rows, 4, dt.date(2026, 12, 1))


def test_recent_events_are_weighed_as_prepare_weighs_them():
    recent = recent_sums(["a", "a", "b", "zz", "c"], ["view", "VIEW ", "rating", "view", "purchase"],
                         [None, None, 4.0, None, 3.0], model())  # fmt: skip
    # view 1 each (twice), rating weight 1 x value 4, purchase weight 5 (its value is a quantity it ignores)
    assert recent == Recent({"a": 2.0, "b": 4.0, "c": 5.0}, unknown=1)
    assert recent_sums(["a", "b"], None, None, model()).sums == {"a": 1.0, "b": 1.0}


def test_merged_strengths_add_the_plain_sums_then_scale_again():
    batch = {"a": float(scaled(np.array(3.0), PREPARE)), "b": 0.7}
    items, strengths = merged(batch, {"a": 2.0, "c": 4.0}, PREPARE)
    assert items == ["a", "b", "c"]
    assert strengths == pytest.approx([np.log1p(5.0 / 2.0), 0.7, np.log1p(4.0 / 2.0)], rel=1e-12)
    assert unscaled(scaled(np.array(7.5), PREPARE), PREPARE) == pytest.approx(7.5, rel=1e-12)


@pytest.mark.parametrize(
    ("items", "types", "values", "message"),
    [
        (["a"] * 4, None, None, "4 recent items: at most 3"),
        (["a", "b"], ["view"], None, "1 event types for 2 items"),
        (["a"], ["view"], [1.0, 2.0], "2 values for 1 items"),
        (
            ["a", "b"],
            ["view", "click<script>"],
            None,
            "item #2: the event type is not one of the run's: add_to_cart, purchase",
        ),
        (["a"], ["rating"], None, "item #1: this event type weighs its value"),
        (["a"], ["rating"], [7.0], "item #1: the value is outside 0.5..5.0"),
    ],
)
def test_requests_it_cannot_use_are_refused_without_echoing_them(items, types, values, message):
    with pytest.raises(RequestRefused, match="^" + message.replace("(", r"\(")) as caught:
        recent_sums(items, types, values, model(), max_items=3)
    assert "<script>" not in str(caught.value)


@pytest.mark.parametrize("excluded", [["a", "d", "zz"], ["a"]], ids=["all history", "part of it (a window)"])
def test_the_list_is_the_fold_in_scored_over_eligible_items_neither_excluded_nor_recent(excluded):
    realtime = model()
    history = {"a": 0.9, "d": 1.4, "zz": 2.0}  # zz: an item of the run the model has no factors for
    top = realtime_list(realtime, history, excluded, recent_sums(["b", "g"], None, None, realtime))
    # Directly: solve with the trained items only, score every eligible item, drop the excluded and recent, sort.
    trained = [i for i, name in enumerate(NAMES) if name not in ("g",)]
    direct = FoldInModel.build(np.array(INDICES)[trained], VECTORS[trained], 0.2, 3.0, True)
    strengths = np.array([0.9, 1.4, float(scaled(np.array(1.0), PREPARE))])
    x = solve_user(direct, np.array([10, 13, 11]), strengths).astype(np.float32)
    dropped = {*excluded, "b", "g", "h"}  # h: not eligible
    scores = {name: float(VECTORS[i] @ x) for i, name in enumerate(NAMES) if name not in dropped}
    expected = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
    assert [name for name, _ in top] == [name for name, _ in expected]
    assert [score for _, score in top] == pytest.approx([score for _, score in expected], rel=1e-5)
    assert ("d" in dict(top)) == ("d" not in excluded), "a history item not excluded is recommended back"


def test_nothing_to_fold_in_is_not_found():
    realtime = model()
    with pytest.raises(NotFound, match="nothing to fold in"):
        realtime_list(realtime, {}, [], recent_sums(["zz", "g"], None, None, realtime))  # unknown, and content only
