"""spark-submit entry point for `reclake prepare`; the job itself is reclake.stages.prepare.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/prepare.py --config conf/local.yaml
"""

import sys

from reclake.stages.prepare import main

if __name__ == "__main__":
    sys.exit(main())
