# The two commands a newcomer needs: `make run` and `make test`.
# Both set up .venv (and the Delta jars, and native BLAS where allowed) first.
VENV := .venv
CONFIG ?= conf/local.yaml
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run test bench clean

setup:
	bash scripts/bootstrap.sh

run: setup
	$(VENV)/bin/reclake run --config $(CONFIG) $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf lakehouse spark-warehouse metastore_db derby.log .pytest_cache
