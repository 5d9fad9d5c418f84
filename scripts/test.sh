#!/usr/bin/env bash
# `make test`: lint, the embedded pass, then the Postgres + Redis pass on throwaway state.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_HOST=${LIVESHOP_TEST_PG_HOST:-127.0.0.1}
PG_PORT=${LIVESHOP_TEST_PG_PORT:-5432}
PG_USER=${LIVESHOP_TEST_PG_USER:-postgres}
REDIS=${LIVESHOP_TEST_REDIS:-redis://127.0.0.1:6379/0}
RUN_ID="ci$$"
WORKERS=${LIVESHOP_TEST_WORKERS:-2}
start=$(date +%s)
cleanup() {
  # Throwaway state of this run only: its Redis keys and any test database left by a crash.
  $BIN/python scripts/cleanup_run.py "postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres" "$REDIS" "$RUN_ID" || true
}
trap cleanup EXIT
step() { printf '\n=== %s (%ss) ===\n' "$1" "$(( $(date +%s) - start ))"; }

step "lint: ruff + mypy"
$BIN/ruff check .
$BIN/ruff format --check .
$BIN/mypy .

step "browser: Debian chromium"
scripts/ensure_chromium.sh

step "preflight: Postgres and Redis must be reachable (this pass is never skipped)"
$BIN/python scripts/preflight.py "postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres" "$REDIS"

# pytest exit code 5 (no tests collected) fails the run like any other failure.
step "pass 1/2: embedded default (SQLite, in-memory layer, eager Celery)"
env -u DATABASE_URL -u REDIS_URL LIVESHOP_TEST_PASS=embedded \
  $BIN/pytest -n "$WORKERS" -m "not pg and not e2e" -q

export DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/liveshop_${RUN_ID}" REDIS_URL="$REDIS" \
  LIVESHOP_REDIS_PREFIX="$RUN_ID" LIVESHOP_TEST_PASS=postgres
step "pass 2/2: Postgres + Redis (throwaway database test_liveshop_${RUN_ID}, Redis prefix ${RUN_ID})"
$BIN/pytest -n "$WORKERS" -m "not e2e" -q

# Playwright's sync API keeps an event loop in the main thread for the whole session, which
# Django's sync ORM refuses to share: browser tests get their own pytest run (same pass).
step "pass 2/2, browser tests: Chromium against a stack started like make run"
$BIN/pytest -n "$WORKERS" -m e2e -q

step "done"
