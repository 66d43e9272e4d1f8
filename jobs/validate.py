"""spark-submit entry point for `reclake validate`; the job itself is reclake.stages.validate.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/validate.py --config conf/local.yaml
"""

import sys

from reclake.stages.validate import main

if __name__ == "__main__":
    sys.exit(main())
