"""The model registry read without Spark: what the Airflow DAG asks before deciding to retrain."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from reclake.constants import RUN_DATE, USABLE_STATUSES
from reclake.io.tables import MODEL_REGISTRY
from reclake.objectstore import storage_options
from reclake.uris import delta_rs_uri


def latest_model_date(lakehouse_root: str) -> dt.date | None:
    """The run date of the newest usable (approved or published) model, read with delta-rs.

    None if there is none yet: a rejected model does not count, so the next run retrains.
    """
    try:
        uri = MODEL_REGISTRY.uri(lakehouse_root)
        models = DeltaTable(delta_rs_uri(uri), storage_options=storage_options(uri)).to_pyarrow_table(
            columns=[RUN_DATE, "status"]
        )
    except TableNotFoundError:
        return None
    usable = models.filter(pc.is_in(models.column("status"), value_set=pa.array(list(USABLE_STATUSES))))
    return pc.max(usable.column(RUN_DATE)).as_py()
