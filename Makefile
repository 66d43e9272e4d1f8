# The two commands a newcomer needs: `make run` and `make test`.
# Both set up .venv (and the Delta jars, and native BLAS where allowed) first.
VENV := .venv
CONFIG ?= conf/local.yaml
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run test bench clean package cluster-up cluster-down

setup:
	bash scripts/bootstrap.sh

run: setup
	$(VENV)/bin/reclake run --config $(CONFIG) $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# dist/reclake-<version>.zip: the jobs package for spark-submit --py-files (scripts/package.sh).
package:
	bash scripts/package.sh

# A Spark standalone master and two workers on 127.0.0.1:7077 (scripts/spark-cluster.sh).
cluster-up: setup
	bash scripts/spark-cluster.sh start

cluster-down:
	bash scripts/spark-cluster.sh stop

clean:
	rm -rf lakehouse spark-warehouse metastore_db derby.log .pytest_cache
