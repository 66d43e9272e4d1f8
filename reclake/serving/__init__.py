"""Reading what reclake published, without Spark: the lookup client, the HTTP API, the registry reader.

Nothing under this package imports pyspark or delta-spark: it reads Delta
tables with ``deltalake`` (delta-rs) and pyarrow.
"""

from reclake.errors import NotFound
from reclake.serving.lookup import LookupClient

__all__ = ["LookupClient", "NotFound"]
