"""spark-submit entry point for `reclake recommend`; the job itself is reclake.stages.recommend.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/recommend.py --config conf/local.yaml
"""

import sys

from reclake.stages.recommend import main

if __name__ == "__main__":
    sys.exit(main())
