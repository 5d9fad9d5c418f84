# LiveShop — two commands on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export LIVESHOP_DEMO_COINS ?= 1000

.PHONY: run test lint test-embedded test-pg venv vendor messages clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# Front-end libraries come from the npm registry and are copied into static/vendor/.
static/vendor/.installed: package.json package-lock.json scripts/vendor.sh
	scripts/vendor.sh
	touch $@

vendor: static/vendor/.installed

# Translations (.po in locale/) compiled to .mo.
messages: venv
	$(BIN)/python manage.py compilemessages -v0 --ignore=.venv

run: venv vendor messages
	$(BIN)/python manage.py db_bootstrap
	$(BIN)/python manage.py migrate --noinput -v1
	$(BIN)/python manage.py seed_demo
	exec $(BIN)/python manage.py serve --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The suite twice: the embedded default, then Postgres + Redis (races, RLS, multi-process
# and browser tests run there). Fails loudly if Postgres or Redis is unreachable.
test: venv vendor messages
	scripts/test.sh

clean:
	rm -rf $(VENV) static/vendor node_modules var
