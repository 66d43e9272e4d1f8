"""``daily_pairs``: each ingest date of ``events`` summed once per pair, again only when that date changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.config import EventType
from reclake.constants import INGEST_DATE
from reclake.context import RunContext
from reclake.features.interactions import daily_pair_sums
from reclake.io import catalogue
from reclake.io.lakehouse import partition_fingerprints, partition_values
from reclake.io.tables import DAILY_PAIRS, EVENTS

# daily_pairs: per row, the fingerprint of the events files its ingest date was summed from.
EVENTS_FILES = "events_files"


def refresh_daily_pairs(
    spark: SparkSession, root: str, event_types: Mapping[str, EventType], ctx: RunContext
) -> list[dt.date]:
    """Sum the ingest dates whose ``events`` rows changed since ``daily_pairs`` was built; return those dates.

    A date's rows changed when its data files did (Delta never rewrites a file in
    place): the files' fingerprint is kept with the date's daily rows. Dates gone
    from ``events`` (a whole-input run replaced them) are dropped.
    """
    current = partition_fingerprints(EVENTS.uri(root), INGEST_DATE)
    daily_uri = DAILY_PAIRS.uri(root)
    built = (
        partition_values(daily_uri, INGEST_DATE, EVENTS_FILES) if catalogue.exists(spark, root, DAILY_PAIRS) else None
    )
    stale = sorted(day for day, files in current.items() if (built or {}).get(day) != files)
    gone = sorted(set(built or {}) - set(current))
    if built is not None and not stale and not gone:
        return []
    by_day = F.create_map(*[F.lit(x) for day in stale for x in (day, current[day])])
    files = by_day[F.col(INGEST_DATE).cast("string")] if stale else F.lit(None).cast("string")
    events = catalogue.read(spark, root, EVENTS).where(F.col(INGEST_DATE).isin(stale))
    sums = daily_pair_sums(events, event_types).withColumn(EVENTS_FILES, files)
    replaced = ", ".join(f"'{day}'" for day in [*stale, *gone])
    catalogue.write(
        sums, root, DAILY_PAIRS, ctx, replace_where=f"{INGEST_DATE} IN ({replaced})" if built is not None else None
    )
    return [dt.date.fromisoformat(day) for day in stale]
