"""The search space, its config validation, and a tiny search that must prefer the better rank."""

from __future__ import annotations

import pytest

from reclake.config import AlsSection, TuneSection, load_config
from reclake.errors import ConfigError
from reclake.model.als import build_als
from reclake.model.tuning import candidates


def test_grid_tries_every_combination_in_order():
    space = TuneSection(strategy="grid", budget=4, rank=[1, 2], reg_param=[0.1], alpha=[1.0, 2.0])
    assert candidates(space) == [
        {"rank": 1, "reg_param": 0.1, "alpha": 1.0},
        {"rank": 1, "reg_param": 0.1, "alpha": 2.0},
        {"rank": 2, "reg_param": 0.1, "alpha": 1.0},
        {"rank": 2, "reg_param": 0.1, "alpha": 2.0},
    ]


def test_random_draws_budget_distinct_combinations_reproducibly():
    space = TuneSection(strategy="random", budget=5, rank=[1, 2, 3], reg_param=[0.1, 1.0], alpha=[1.0, 2.0])
    drawn = candidates(space)
    assert len(drawn) == 5 and len({tuple(d.values()) for d in drawn}) == 5
    assert drawn == candidates(space)
    assert candidates(space.model_copy(update={"budget": 50})).__len__() == 12  # never more than the space


def test_grid_larger_than_budget_is_a_config_error():
    with pytest.raises(ConfigError, match=r"tune: .*grid search needs 8 fits but budget is 4"):
        load_config(
            None,
            ["tune.strategy=grid", "tune.budget=4", "tune.rank=[1,2]", "tune.reg_param=[0.1,1]", "tune.alpha=[1,2]"],
        )
    with pytest.raises(ConfigError, match=r"tune.*rank: the search space needs at least one value"):
        load_config(None, ["tune.rank=[]"])


def test_als_blocks_default_to_one_per_core_unless_set(spark):
    als = build_als(AlsSection(), cores=3)
    assert (als.getNumUserBlocks(), als.getNumItemBlocks()) == (3, 3)
    als = build_als(AlsSection(num_user_blocks=8, num_item_blocks=5), cores=3)
    assert (als.getNumUserBlocks(), als.getNumItemBlocks()) == (8, 5)
