"""spark-submit entry point for `reclake run`; the job itself is reclake.pipeline.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/run.py --config conf/local.yaml
"""

import sys

from reclake.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
