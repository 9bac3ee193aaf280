# Tessera: local development, tests and benchmarks.
#
# With no DATABASE_URL (or TESSERA_TEST_DATABASE_URL for tests) the targets provision their own
# PostgreSQL 18 with pgvector (deploy/local/postgres.sh); set those variables to use another one.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Where `make db` / `make run` keep the server's data and its PostgreSQL cluster.
DATA_DIR ?= data
PG_PORT ?= 55432
# The cluster for tests and benchmarks (each test creates its own databases in it).
TEST_DATA_DIR ?= target/test-data
TEST_PG_PORT ?= 55433
# The Redis for tests (rate limits and the cache), unless TESSERA_TEST_REDIS_URL names one.
TEST_REDIS_PORT ?= 56379
TEST_REDIS_DIR ?= target/redis-data

PG := deploy/local/postgres.sh
REDIS := deploy/local/redis.sh
# The S3-compatible server for tests (s3s-fs), unless TESSERA_TEST_S3_ENDPOINT names one.
TEST_S3_PORT ?= 59000
TEST_S3_DIR ?= target/s3-data
S3 := deploy/local/s3.sh

# rustup installs into ~/.cargo/bin, which non-login shells (CI) often lack on their PATH.
CARGO_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin
ifneq ($(wildcard $(CARGO_BIN)/cargo),)
export PATH := $(PATH):$(CARGO_BIN)
endif

# Shell snippet printing the test database URL: the caller's, or the test cluster's (started if
# needed).
TEST_DB_URL = if [ -n "$${TESSERA_TEST_DATABASE_URL:-}" ]; then \
	  printf '%s\n' "$$TESSERA_TEST_DATABASE_URL"; \
	else \
	  $(PG) ensure "$(TEST_DATA_DIR)" "$(TEST_PG_PORT)"; \
	fi

# Shell snippet printing the test Redis URL: the caller's, or the test server's (started if needed).
TEST_REDIS_URL = if [ -n "$${TESSERA_TEST_REDIS_URL:-}" ]; then \
	  printf '%s\n' "$$TESSERA_TEST_REDIS_URL"; \
	else \
	  $(REDIS) ensure "$(TEST_REDIS_PORT)" "$(TEST_REDIS_DIR)"; \
	fi

# Shell snippet deleting directory $(1), refusing paths that are surely a mistake.
remove_dir = case "$(1)" in ""|/|.|./|..|../) echo "refusing to delete '$(1)'" >&2; exit 1;; esac; \
	rm -rf -- "$(1)"

.PHONY: help deps deps-test db test-db build web openapi run lint test e2e bench eval models pyclient stop clean-data

help:
	@echo "make deps        install missing build and test dependencies"
	@echo "make db          start the local PostgreSQL ($(DATA_DIR), port $(PG_PORT)) and print its URL"
	@echo "make build       release build of the tessera binary"
	@echo "make web         build the web UI into web/dist (installs Node.js and npm packages if missing)"
	@echo "make openapi     rewrite web/openapi.json, the API description the UI's types come from"
	@echo "make run         build and serve (DATABASE_URL, TESSERA_AUTH__JWT_SECRET optional)"
	@echo "make lint        rustfmt check and clippy"
	@echo "make test        lint, then all tests against the test PostgreSQL (port $(TEST_PG_PORT)), then the UI's"
	@echo "make e2e         the UI's end-to-end tests in Chromium (after a debug build)"
	@echo "make bench       benchmarks against the test PostgreSQL"
	@echo "make eval        how right the findings are, beside RapidOCR and faster-whisper"
	@echo "make models      download, verify and convert the models (~/.cache/tessera)"
	@echo "make stop        stop both local PostgreSQL clusters, the test Redis and the test S3"
	@echo "make clean-data  stop them and delete $(DATA_DIR) and $(TEST_DATA_DIR)"

deps:
	@deploy/local/deps.sh

# Also what only the tests need (the browser for the UI's end-to-end tests).
deps-test:
	@deploy/local/deps.sh --test

db:
	@if [ -n "$${DATABASE_URL:-}" ]; then \
	  echo "DATABASE_URL is set; not starting a local PostgreSQL" >&2; \
	else \
	  $(PG) ensure "$(DATA_DIR)" "$(PG_PORT)"; \
	fi

test-db:
	@$(TEST_DB_URL)

build:
	cargo build --release --bin tessera

web:
	@deploy/local/web.sh build

openapi:
	cargo run -q --bin tessera -- openapi > web/openapi.json

run: deps models build web
	@url="$${DATABASE_URL:-}"; \
	if [ -z "$$url" ]; then url="$$($(PG) ensure "$(DATA_DIR)" "$(PG_PORT)")"; fi; \
	if [ -z "$${TESSERA_AUTH__JWT_SECRET:-}" ]; then \
	  TESSERA_AUTH__JWT_SECRET="$$(deploy/local/jwt-secret.sh "$(DATA_DIR)/jwt-secret")"; \
	  export TESSERA_AUTH__JWT_SECRET; \
	fi; \
	echo "serving with DATABASE_URL=$$url TESSERA_DATA_DIR=$(abspath $(DATA_DIR))" >&2; \
	DATABASE_URL="$$url" TESSERA_DATA_DIR="$(abspath $(DATA_DIR))" exec ./target/release/tessera serve

lint: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@deploy/local/web.sh lint

# test-db comes first so that a database problem shows in seconds, not after the build.
# One build compiles and lints the workspace (deploy/local/clippy-env.sh: clippy's driver runs
# during the build, with `-D warnings`), so the dependencies are compiled once rather than again
# in check mode. It builds every target, benchmarks too, so that clippy sees what
# `--all-targets` would; the benchmarks are not run here (`make bench` runs them).
test: deps-test test-db models pyclient
	cargo fmt --all -- --check
	@deploy/local/web.sh lint
	@lint="$$(deploy/local/clippy-env.sh)" && eval "$$lint" && cargo build --workspace --all-targets
	@deploy/local/web.sh unit
	@lint="$$(deploy/local/clippy-env.sh)" && eval "$$lint" || exit 1; \
	url="$$($(TEST_DB_URL))"; \
	redis="$$($(TEST_REDIS_URL))"; \
	s3="$${TESSERA_TEST_S3_ENDPOINT:-}"; \
	if [ -z "$$s3" ]; then s3="$$($(S3) ensure "$(TEST_S3_DIR)" "$(TEST_S3_PORT)")"; fi; \
	echo "TESSERA_TEST_DATABASE_URL=$$url TESSERA_TEST_REDIS_URL=$$redis TESSERA_TEST_S3_ENDPOINT=$$s3" >&2; \
	TESSERA_TEST_DATABASE_URL="$$url" TESSERA_TEST_REDIS_URL="$$redis" TESSERA_TEST_S3_ENDPOINT="$$s3" \
	  cargo nextest run --workspace --lib --bins --tests --no-fail-fast
	@$(MAKE) -s e2e E2E_PREBUILT=1

# The UI in Chromium against a debug build of the server on its own database in the test cluster.
# E2E_PREBUILT=1 (as `make test` passes) takes the server the suite's build just left in
# target/debug: building it alone would compile the workspace again, with other features.
e2e: deps-test test-db models
	@if [ -z "$${E2E_PREBUILT:-}" ] || [ ! -x target/debug/tessera ]; then cargo build -q --bin tessera; fi
	@deploy/local/web.sh build
	@url="$$($(TEST_DB_URL))"; \
	TESSERA_E2E_DATABASE_URL="$$url" TESSERA_E2E_BIN="$(abspath target/debug/tessera)" \
	  deploy/local/web.sh e2e

bench: deps-test models
	@url="$${TESSERA_BENCH_DATABASE_URL:-}"; \
	if [ -z "$$url" ]; then url="$$($(TEST_DB_URL))"; fi; \
	echo "TESSERA_BENCH_DATABASE_URL=$$url" >&2; \
	TESSERA_BENCH_DATABASE_URL="$$url" cargo bench --workspace
	@cargo build -q --release --bin tessera
	@url="$$($(TEST_DB_URL))"; \
	TESSERA_E2E_DATABASE_URL="$$url" TESSERA_E2E_BIN="$(abspath target/release/tessera)" benches/web_ui.sh

# How right the findings are, on an evaluation set the eval builds itself (target/eval-set),
# through a Tessera started on the test PostgreSQL, with RapidOCR and faster-whisper (installed
# from PyPI by deploy/local/eval-peers.sh) side by side: target/bench-results/eval.json.
eval: deps-test models
	@url="$${TESSERA_BENCH_DATABASE_URL:-}"; \
	if [ -z "$$url" ]; then url="$$($(TEST_DB_URL))"; fi; \
	TESSERA_BENCH_DATABASE_URL="$$url" cargo bench --bench eval

# The official `openai` Python package (pinned in tests/openai/requirements.txt) in a private
# virtualenv under ~/.cache/tessera: the client of the OpenAI-compatible API tests.
pyclient: deps
	@deploy/local/pyclient.sh >/dev/null

# Every model of models/catalog.toml, downloaded, verified and converted into the per-user cache
# (TESSERA_CACHE_DIR, default ~/.cache/tessera; TESSERA_MODELS_DIR); a second run does nothing.
models: deps
	@python3 models/tools/fetch.py

stop:
	@$(PG) stop "$(DATA_DIR)"
	@$(PG) stop "$(TEST_DATA_DIR)"
	@$(REDIS) stop "$(TEST_REDIS_DIR)"
	@$(S3) stop "$(TEST_S3_DIR)"

clean-data:
	@$(PG) destroy "$(DATA_DIR)"
	@$(PG) destroy "$(TEST_DATA_DIR)"
	@$(call remove_dir,$(DATA_DIR))
	@$(call remove_dir,$(TEST_DATA_DIR))
