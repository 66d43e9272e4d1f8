"""spark-submit entry point for `reclake publish`; the job itself is reclake.stages.publish.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/publish.py --config conf/local.yaml
"""

import sys

from reclake.stages.publish import main

if __name__ == "__main__":
    sys.exit(main())
