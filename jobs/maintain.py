"""spark-submit entry point for `reclake maintain`; the job itself is reclake.stages.maintain.

spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 jobs/maintain.py --config conf/local.yaml
"""

import sys

from reclake.stages.maintain import main

if __name__ == "__main__":
    sys.exit(main())
