"""spark-submit entry point for `reclake evaluate`; the job itself is reclake.stages.evaluate.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/evaluate.py --config conf/local.yaml
"""

import sys

from reclake.stages.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
