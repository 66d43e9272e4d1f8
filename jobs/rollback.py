"""spark-submit entry point for `reclake rollback`; the job itself is reclake.stages.rollback.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/rollback.py --config conf/local.yaml --run-date 2026-11-23
"""

import sys

from reclake.stages.rollback import main

if __name__ == "__main__":
    sys.exit(main())
