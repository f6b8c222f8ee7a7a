# The project's commands. `make demo` and `make test` are the README's two; both
# set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MODELKEEPER_CACHE ?= $(HOME)/.cache/modelkeeper
export GOTOOLCHAIN := local
PYTEST := $(BIN)/pytest
SOURCES := operator tests $(wildcard benchmarks)

.PHONY: venv deps test test-unit test-integration test-e2e lint format cluster-up cluster-down demo manifests

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian packages, the Kubernetes binaries and helm (cached by version).
deps: venv
	tests/ground/tools/install-deps.sh $(MODELKEEPER_CACHE)

# Five pytest sessions side by side, each with a ground of its own: the end-to-end tier in
# three parts and the integration tiers of the controller and the scoring server (all mostly
# waiting, on pods, rollout steps, drift windows, operators and servers, so the grounds share
# the cores well), and the rest of the unit and integration tiers in the foreground. The
# others' output follows. pytest exits 5 when it collects nothing: that fails the target,
# as it should. The first two e2e parts take named modules; every other one runs in the third.
TEST_LOG := $(or $(TMPDIR),/tmp)/modelkeeper-test
E2E_CONTROLLER := tests/e2e/controller/test_
E2E_PART_1 := $(addsuffix _end_to_end.py,$(addprefix $(E2E_CONTROLLER),retraining_loop canary \
	pod_specs)) tests/e2e/serving/test_serving_pod.py
E2E_PART_2 := $(addsuffix _end_to_end.py,$(addprefix $(E2E_CONTROLLER),ab estimated_performance \
	takeover mlflow pool))
INTEGRATION_APART := tests/integration/controller tests/integration/serving
E2E := $(PYTEST) -m e2e --durations=12 -p no:cacheprovider
NOT_E2E := $(PYTEST) -m "not e2e" --durations=8 -p no:cacheprovider
test: deps
	@$(E2E) $(E2E_PART_1) > $(TEST_LOG)-1.log 2>&1 & pids=$$!; \
	$(E2E) $(E2E_PART_2) > $(TEST_LOG)-2.log 2>&1 & pids="$$pids $$!"; \
	$(E2E) tests/e2e $(addprefix --ignore=,$(E2E_PART_1) $(E2E_PART_2)) > $(TEST_LOG)-3.log 2>&1 & pids="$$pids $$!"; \
	$(NOT_E2E) $(INTEGRATION_APART) > $(TEST_LOG)-4.log 2>&1 & pids="$$pids $$!"; \
	$(NOT_E2E) $(addprefix --ignore=,$(INTEGRATION_APART)); status=$$?; \
	for pid in $$pids; do wait $$pid || status=1; done; \
	for part in 1 2 3; do echo "=== the end-to-end tier, part $$part ($(TEST_LOG)-$$part.log)"; \
		cat $(TEST_LOG)-$$part.log; done; \
	echo "=== $(INTEGRATION_APART) ($(TEST_LOG)-4.log)"; cat $(TEST_LOG)-4.log; \
	exit $$status

test-unit: venv
	$(PYTEST) -m unit

test-integration: deps
	$(PYTEST) -m integration

test-e2e: deps
	$(PYTEST) -m e2e

lint: venv
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

cluster-up: deps
	$(BIN)/python -m tests.ground up

cluster-down: venv
	$(BIN)/python -m tests.ground down

# The whole loop on the local ground (tests/demo.py), then left running. On a ground that is
# already up it runs against that one; `make cluster-down` stops everything.
demo: deps
	@[ -f .ground/state.json ] || $(BIN)/python -m tests.ground up
	$(BIN)/python -m tests.demo

# The Helm chart's CRD copy and manifests/install.yaml, rendered from the chart.
manifests: deps
	tools/render-manifests.sh
