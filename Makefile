# Self-documenting Makefile: `make help` lists the targets with their `##` comments.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_CONTACTS ?= 5000
export PREFECT_HOME ?= $(CURDIR)/.prefect
export MPLBACKEND ?= Agg

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint format bench lock clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the locked dependencies and the package

demo: $(STAMP) ## Generate a demo world and run the weekly job end to end on it
	$(BIN)/advocacy generate --out $(DEMO_DIR)/data --contacts $(DEMO_CONTACTS) --seed 7
	$(BIN)/advocacy run --data $(DEMO_DIR)/data
	@echo ""
	@echo "The list:   $$(readlink -f output/latest)/candidates.csv"
	@echo "The report: $$(readlink -f output/latest)/report.html"

test: $(STAMP) ## Run the whole test suite (unit, integration, model, notebooks)
	$(BIN)/pytest -n 2 --dist loadgroup -q

test-fast: $(STAMP) ## Unit tests only
	$(BIN)/pytest -q tests/unit

lint: $(STAMP) ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## Time every stage at scale (CONTACTS=100000 by default)
	$(BIN)/python bench/run_bench.py --contacts $${CONTACTS:-100000}

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf /tmp/advocacy-lock && $(PYTHON) -m venv /tmp/advocacy-lock
	/tmp/advocacy-lock/bin/pip install --quiet ".[dev]"
	( echo "# Full pinned lock of every package the project installs, tested on Python 3.11."; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml."; \
	  /tmp/advocacy-lock/bin/pip freeze --exclude advocacy-pipeline ) > requirements.lock

clean: ## Remove generated data, outputs, MLflow and Prefect state (keeps .venv)
	rm -rf $(DEMO_DIR) output mlflow.db mlartifacts validation .prefect .pytest_cache
