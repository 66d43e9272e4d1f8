"""Starts bqemulator (a BigQuery REST API on DuckDB) without DuckDB's ``spatial`` extension.

bqemulator installs and loads ``spatial`` when its engine starts, for GEOGRAPHY, and
refuses to start when it cannot: the extension is downloaded from DuckDB's
extension repository, which is not reachable here. reclake's tables have no
GEOGRAPHY column, so that one step is skipped; bqemulator 1.4 has no setting
for it. Run with the emulator's own Python (scripts/test-tools.sh installs it),
with ``bqemulator start``'s arguments.
"""

from bqemulator.cli import main
from bqemulator.storage.engine import DuckDBEngine

DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
