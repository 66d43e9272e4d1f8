"""The table catalogue: one declaration per table, and docs/data-contracts.md generated from it."""

from __future__ import annotations

from reclake.io.layout import RECOMMENDATION_COLUMNS, SIMILAR_ITEM_COLUMNS
from reclake.io.tables import REGENERATE, TABLES, regenerate
from tests.helpers import REPO


def test_data_contracts_lists_the_tables_as_declared():
    doc = REPO / "docs" / "data-contracts.md"
    current = doc.read_text()
    assert "<!-- BEGIN GENERATED: tables -->" in current
    assert current == regenerate(current), f"docs/data-contracts.md is stale: regenerate it with {REGENERATE}"


def test_every_table_is_declared_once_and_the_published_columns_come_from_it():
    names = [table.name for table in TABLES]
    assert len(names) == len(set(names))
    assert RECOMMENDATION_COLUMNS == ("user_id", "rank", "item_id", "score", "source", "model_version", "run_date")
    assert SIMILAR_ITEM_COLUMNS == ("item_id", "rank", "similar_item_id", "score", "model_version", "run_date")
