"""Names of the lakehouse tables, and their URIs: one place, so every stage and reader agrees.

No Spark here: the lookup client, the HTTP API and the Airflow DAG import this too.
"""

from __future__ import annotations

from reclake.uris import join_uri

EVENTS = "events"  # validated events, partitioned by ingest_date (the run date whose batch brought them)
QUARANTINE = "quarantine"  # rows validation rejected, with the reasons
DAILY_PAIRS = "daily_pairs"  # per ingest date, each pair's sum of event weights: what interactions sums
INTERACTIONS = "interactions"  # one strength per (user_idx, item_idx)
USER_IDS = "user_ids"  # user_id <-> user_idx, stable across runs
ITEM_IDS = "item_ids"  # item_id <-> item_idx, stable across runs
MODEL_REGISTRY = "model_registry"  # one row per trained model
MODELS = "models"  # folder of saved ALS models, one per version
STAGED_RECOMMENDATIONS = "staging/recommendations"  # recommend's output, before publishing
RECOMMENDATIONS = "recommendations"  # the published table app teams read
STAGED_SIMILAR_ITEMS = "staging/similar_items"  # item-to-item neighbours, before publishing
SIMILAR_ITEMS = "similar_items"  # the published item-to-item table
CATALOGUE = "catalogue"  # the valid catalogue rows with their content features, replaced every run
CATALOGUE_QUARANTINE = "catalogue_quarantine"  # catalogue rows validation rejected, with the reasons
STAGED_NEW_ITEM_RECOMMENDATIONS = "staging/new_item_recommendations"  # per user, new items only, before publishing
NEW_ITEM_RECOMMENDATIONS = "new_item_recommendations"  # the published "new for you" shelf
# Which version and run date of each published table readers serve: replaced, in one commit, after
# a publish's (or rollback's) table commits, so readers move across tables at once.
SERVED_VERSIONS = "served_versions"
RUNS = "runs"  # one row per published (or failed) run: status and figures
VALIDATION_RUNS = "validation_runs"  # one row per validate run: counts, schema, outcome


def table_uri(lakehouse_root: str, name: str) -> str:
    return join_uri(lakehouse_root, name)
