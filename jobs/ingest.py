"""spark-submit entry point for `reclake ingest`; the job itself is reclake.stages.ingest.

spark-submit --packages org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,io.delta:delta-spark_4.2_2.13:4.4.0 \
    jobs/ingest.py --config conf/kafka.yaml
"""

import sys

from reclake.stages.ingest import main

if __name__ == "__main__":
    sys.exit(main())
