"""The content map's choice of a ridge penalty per feature group, on fold Gramians built by hand (numpy, no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from reclake.features.content import choose_content_map, group_layout

FOLDS, RANK = 5, 4


def fold_grams(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """The Gramian of [x, 1, y] per fold: what fold_gramians sums with Spark."""
    rows = np.hstack([x, np.ones((len(x), 1)), y])
    return np.stack([rows[fold == f].T @ rows[fold == f] for f in range(FOLDS)])


def planted(items: int, noise_columns: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items in 6 genres (one-hot tags) whose factors are their genre's centre plus noise, and random numbers."""
    gen = np.random.default_rng(seed)
    genre = gen.integers(0, 6, items)
    tags = np.eye(6)[genre]
    y = gen.normal(size=(6, RANK))[genre] + 0.3 * gen.normal(size=(items, RANK))
    x = np.hstack([tags, gen.normal(size=(items, noise_columns))])
    return x, y, gen.integers(0, FOLDS, items)


def test_a_random_group_is_switched_off_and_the_planted_one_kept():
    x, y, fold = planted(items=300, noise_columns=40)
    layout = {"tags": [0, 6], "numeric": [6, 46]}
    found = choose_content_map(fold_grams(x, y, fold), layout, [1.0, 10.0, 100.0, 1000.0])
    groups = found.chosen["groups"]
    assert groups["numeric"] == {"features": 40, "reg_param": None}
    assert groups["tags"]["features"] == 6 and groups["tags"]["reg_param"] is not None
    assert found.chosen["held_out_r2"] > 0.8 and found.chosen["folds"] == FOLDS
    assert np.all(found.weights[6:46] == 0)  # the switched-off group maps nothing
    # The map puts an item of genre g near genre g's mean factors.
    assert found.weights[:6] + found.weights[-1] == pytest.approx(
        np.stack([y[x[:, g] == 1].mean(axis=0) for g in range(6)]), abs=0.1
    )


def test_with_only_noise_every_group_is_off_and_the_map_is_the_mean():
    x, y, fold = planted(items=300, noise_columns=20)
    found = choose_content_map(fold_grams(x[:, 6:], y, fold), {"text": [0, 20]}, [1.0, 100.0])
    assert found.chosen["groups"]["text"]["reg_param"] is None
    assert found.chosen["held_out_r2"] == 0.0
    assert found.weights[-1] == pytest.approx(y.mean(axis=0))


def test_one_penalty_for_every_group_is_plain_ridge_on_all_items():
    x, y, fold = planted(items=200, noise_columns=0)
    x = x + np.random.default_rng(1).normal(scale=0.1, size=x.shape)  # every column informative, no exact collinearity
    found = choose_content_map(fold_grams(x, y, fold), {"tags": [0, 6]}, [2.5])
    design = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.diag([2.5] * 6 + [0.0])
    assert found.weights == pytest.approx(np.linalg.solve(design.T @ design + penalty, design.T @ y))


def test_group_layout_joins_the_parts_of_a_group():
    widths = [("text", 3), ("tags", 2), ("tags", 4), ("flags", 1)]
    assert group_layout(widths) == {"text": [0, 3], "tags": [3, 9], "flags": [9, 10]}
