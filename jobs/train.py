"""spark-submit entry point for `reclake train`; the job itself is reclake.stages.train.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/train.py --config conf/local.yaml
"""

import sys

from reclake.stages.train import main

if __name__ == "__main__":
    sys.exit(main())
