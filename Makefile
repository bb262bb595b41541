# one2one developer entry points. On a fresh machine with python3 (>= 3.11): `make run` or `make test`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
STAGE ?= prod
PACKAGE_DIR := build/package
PYTEST_ARGS ?=
# Two pytest-xdist workers (the CI machine has two cores); tests/conftest.py keeps each file, and all the local-stack
# suites, on one worker. PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
# chalice package and boto3 need a region even though nothing is deployed from here.
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCOUNT_ID_ENDPOINT_MODE ?= disabled

.DEFAULT_GOAL := help
.PHONY: import clv-fit help bootstrap test lint architecture format run package checkov bench bench-readme security clean lint-templates

help:
	@echo "make run      - the whole product locally (moto + Chalice local + event pump) on http://127.0.0.1:$${PORT:-8000}"
	@echo "make test     - ruff + the whole pytest suite (unit, integration, e2e)"
	@echo "make lint     - ruff check, ruff format --check, cfn-lint infra/resources.json"
	@echo "make architecture - import-linter contracts (pyproject.toml) and mypy on chalicelib/"
	@echo "make format   - ruff format + ruff check --fix"
	@echo "make package  - chalice package ($(STAGE)) + template patch + cfn-lint into $(PACKAGE_DIR)/"
	@echo "make checkov  - make package, then checkov on the template (its own virtualenv): no failed check allowed"
	@echo "make bench    - python -m bench"
	@echo "make bench-readme - make bench, then rewrite README's benchmark section from bench/results/"
	@echo "make lint-templates - the template lint (also in make test); rendered mails saved to build/email-previews/"
	@echo "make clv-fit FILE=summary.csv - fit the CLV models on a customer-summary CSV, print the parameters as JSON"
	@echo "make import FILE=x.csv KIND=people|orders|events|pinpoint_endpoints|pinpoint_segment [SEGMENT=id] - into make run"
	@echo "make security - bandit (no high findings) and pip-audit (when PyPI's advisory API is reachable)"

# The virtualenv is (re)built when missing, and requirements are re-installed whenever a requirements file changes.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "one2one needs Python >= 3.11 (found $$($(PYTHON) -V)); set PYTHON=python3.11 or newer" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv" >&2; exit 1; }

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt requirements-predictions.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

# The Node SDKs the e2e tests drive (Node comes with the machine; .ci/run installs it where it is missing).
SDK_DIR := tests/e2e/sdk
$(SDK_DIR)/node_modules/.installed: $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json
	cd $(SDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bootstrap: $(STAMP) $(SDK_DIR)/node_modules/.installed

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint infra/resources.json

# The house by capability, checked: wings layered, adapters composed only by bootstrap, no import circles; typed.
architecture: bootstrap
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

format: bootstrap
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory security
	$(MAKE) --no-print-directory checkov
	$(MAKE) --no-print-directory architecture
	$(BIN)/python -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# bandit must find nothing of high severity; pip-audit needs PyPI's advisory API, which a mirror-only machine lacks.
security: bootstrap
	$(BIN)/bandit -c pyproject.toml -r chalicelib app.py -q --severity-level high
	@if $(BIN)/python -c "import json,urllib.request; json.load(urllib.request.urlopen('https://pypi.org/pypi/PyYAML/6.0.4/json', timeout=5))" 2>/dev/null; then \
	  $(BIN)/pip-audit -r requirements.txt --strict --progress-spinner off; \
	else echo "pip-audit skipped: PyPI's per-version advisory API is not reachable from this machine (offline or mirror-only)"; fi

# Fit BG/NBD + Gamma-Gamma on a customer-summary CSV (customer_id,frequency,recency,T,monetary_value); prints JSON.
clv-fit: bootstrap
	@test -n "$(FILE)" || { echo "usage: make clv-fit FILE=summary.csv" >&2; exit 2; }
	$(BIN)/python -m chalicelib.predictions $(FILE)

# Import a file into the running local stack (make run) through its admin API, with a progress bar.
import: bootstrap
	@test -n "$(FILE)" -a -n "$(KIND)" || { echo "usage: make import FILE=people.csv KIND=people [SEGMENT=id]" >&2; exit 2; }
	$(BIN)/python -m local.import_file "$(FILE)" $(KIND) $(if $(SEGMENT),--segment $(SEGMENT))

run: bootstrap
	$(BIN)/python -m local.stack

# numpy + scipy for the fit_predictions function only, as a Lambda layer (manylinux wheels from PyPI, tests stripped).
LAYER := build/scientific-layer.zip
$(LAYER): requirements-predictions.txt | $(BIN)/python
	rm -rf build/scientific-layer && mkdir -p build
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --target build/scientific-layer/python \
		--platform manylinux2014_x86_64 --implementation cp --python-version 3.11 --only-binary=:all: \
		-r requirements-predictions.txt
	find build/scientific-layer -depth \( -name tests -o -name __pycache__ \) -type d -exec rm -rf {} +
	cd build/scientific-layer && $(abspath $(BIN))/python -m zipfile -c ../scientific-layer.zip python

package: bootstrap $(LAYER)
	rm -rf $(PACKAGE_DIR)
	ONE2ONE_API=public $(BIN)/chalice package --stage $(STAGE) --merge-template infra/resources.json $(PACKAGE_DIR)
	ONE2ONE_API=admin ONE2ONE_CONSOLE_AUTHORIZER=cognito $(BIN)/chalice package --stage $(STAGE) $(PACKAGE_DIR)/admin
	cp $(LAYER) $(PACKAGE_DIR)/scientific-layer.zip
	$(BIN)/python -m local.package $(PACKAGE_DIR)/sam.json $(PACKAGE_DIR)/admin/sam.json
	$(BIN)/cfn-lint $(PACKAGE_DIR)/sam.json
	@echo "deploy: aws cloudformation package --template-file $(PACKAGE_DIR)/sam.json --s3-bucket <bucket> \\"
	@echo "          --output-template-file $(PACKAGE_DIR)/packaged.json && aws cloudformation deploy \\"
	@echo "          --template-file $(PACKAGE_DIR)/packaged.json --stack-name one2one-$(STAGE) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"

CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

# Every finding is fixed or skipped in the template with its reason (local/package.py CHECKOV_SKIPS).
checkov: package $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov -f $(PACKAGE_DIR)/sam.json --framework cloudformation --compact --quiet --skip-download

# Every marketing template rendered for an empty, an en and a ja profile: open build/email-previews/*.html to look.
lint-templates: bootstrap
	ONE2ONE_EMAIL_PREVIEW_DIR=build/email-previews $(BIN)/python -m pytest -p no:cacheprovider -q tests/unit/delivery/test_template_lint.py

bench: bootstrap
	@if [ -f bench/__main__.py ]; then $(BIN)/python -m bench; else echo "bench/__main__.py does not exist yet"; fi

bench-readme: bench  ## one full run, then README's benchmark section rewritten from bench/results/ (python -m bench.readme)
	$(BIN)/python -m bench.readme

clean:
	rm -rf build .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
