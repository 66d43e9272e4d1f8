# The two commands a newcomer needs: `make run` and `make test`.
# Both set up .venv (and the Delta jars, and native BLAS where allowed) first; the test targets
# also install the test tools (Prometheus, promtool, the Pushgateway, Chromium) where allowed.
VENV := .venv
CONFIG ?= conf/local.yaml
ARGS ?=
PYTEST_ARGS ?=
EVENT_LOG_DIR ?=

.PHONY: setup test-tools run test test-e2e test-long test-soak lint format docs bench clean package cluster-up cluster-down history

setup:
	bash scripts/bootstrap.sh

# Tools only the tests use; `make run` does not install them.
test-tools:
	bash scripts/test-tools.sh

run: setup
	$(VENV)/bin/reclake run --config $(CONFIG) $(ARGS)

# The fast tier, tests/unit and tests/integration: real Spark, Delta, GX and Airflow, one shared golden
# lakehouse (budget 6 minutes on 2 cores; see docs/development.md). Two pytest-xdist workers, one file
# each at a time: most of a small Spark job is one driver thread, so two of them fill the two cores.
TEST_WORKERS ?= 2
test: setup test-tools
	$(VENV)/bin/python -m pytest -m "not e2e" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 $(PYTEST_ARGS)

# The slow tier, tests/e2e but e2e/long (marked by folder): spark-submit, the standalone cluster, dag.test(),
# killed processes (7 named kill points, 2 random moments), real servers. Two workers, one file each at a time,
# the slowest files first (tests/conftest.py: FileOrder): one worker's waits (a scheduler's poll, a server
# starting) overlap the other's Spark work.
E2E_WORKERS ?= 2
test-e2e: setup test-tools
	$(VENV)/bin/python -m pytest -m "e2e and not long" -n $(E2E_WORKERS) --dist loadfile --no-loadscope-reorder --durations=40 $(PYTEST_ARGS)

# What CI leaves out of the slow tier, tests/e2e/long (about 35 minutes): two days through the pipeline, MovieLens,
# tuning, the wheel in a fresh venv, the terminal and the report in Chromium, the catalogue, edge-shaped data, the
# daily DAG on a cluster with no shared disk against S3.
test-long: setup test-tools
	$(VENV)/bin/python -m pytest -m long --durations=15 $(PYTEST_ARGS)

# The crash soak, not in CI: the named kill points and 20 random moments of a whole run (about 20 minutes).
RANDOM_KILLS ?= 20
test-soak: setup
	RECLAKE_RANDOM_KILLS=$(RANDOM_KILLS) $(VENV)/bin/python -m pytest tests/e2e/reliability/test_crash.py --durations=5 $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# docs/configuration.md is generated from the typed config, the table list in docs/data-contracts.md from
# reclake/io/tables.py, docs/errors.md from reclake/error-conditions.json (a test fails when any is stale).
docs: setup
	$(VENV)/bin/python -m reclake.config > docs/configuration.md
	$(VENV)/bin/python -m reclake.io.tables --write
	$(VENV)/bin/python -m reclake.errors > docs/errors.md

# dist/reclake-<version>-py3-none-any.whl and dist/reclake-<version>.zip (the same wheel, for --py-files).
package: setup
	bash scripts/package.sh

# A Spark standalone master and two workers on 127.0.0.1:7077 (scripts/spark-cluster.sh).
cluster-up: setup
	bash scripts/spark-cluster.sh start

cluster-down:
	bash scripts/spark-cluster.sh stop

# The Spark History Server on the runs' event logs (monitoring.event_log_dir of CONFIG, or
# EVENT_LOG_DIR=...), in the foreground at http://127.0.0.1:18080 (scripts/history-server.sh).
history: setup
	CONFIG=$(CONFIG) bash scripts/history-server.sh $(EVENT_LOG_DIR)

clean:
	rm -rf lakehouse spark-warehouse metastore_db derby.log .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build dist
