"""spark-submit entry point for `reclake generate`; the job itself is reclake.stages.generate.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/generate.py --config conf/local.yaml
"""

import sys

from reclake.stages.generate import main

if __name__ == "__main__":
    sys.exit(main())
