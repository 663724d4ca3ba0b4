# The two commands: `make run` and `make test`. Nothing else is needed on a fresh machine but
# Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/tessera
DEV_ENV := TESSERA_ENV=development

.PHONY: run test test-sqlite test-postgres lint install screenshots bench soak clean messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(DEV_ENV) DEBUG=1 $(BIN)/tessera migrate --noinput
	$(DEV_ENV) DEBUG=1 $(BIN)/tessera seed_demo --url http://$(HOST):$(PORT)
	@set -e; \
	  $(DEV_ENV) DEBUG=1 $(BIN)/tessera run_huey & HUEY_PID=$$!; \
	  trap 'kill $$HUEY_PID 2>/dev/null' EXIT INT TERM; \
	  $(DEV_ENV) DEBUG=1 $(BIN)/tessera runserver $(HOST):$(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench conftest.py
	$(BIN)/ruff format --check src tests bench conftest.py
	$(DEV_ENV) $(BIN)/mypy

# The suite runs twice: on SQLite, then on PostgreSQL. Without a reachable PostgreSQL the second run is
# skipped with a warning, unless TESSERA_REQUIRE_POSTGRES=1 (CI), which makes it an error.
test: lint test-sqlite test-postgres

test-sqlite: $(STAMP)
	$(DEV_ENV) $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_URL)'.rsplit('/',1)[0]+'/postgres', connect_timeout=3).close()" 2>/dev/null; then \
	  $(DEV_ENV) DATABASE_URL=$(PG_URL) $(BIN)/pytest $(PYTEST_ARGS); \
	elif [ "$$TESSERA_REQUIRE_POSTGRES" = "1" ]; then \
	  echo "ERROR: PostgreSQL is not reachable at $(PG_URL); the PostgreSQL half of the suite cannot run." >&2; exit 1; \
	else \
	  echo "WARNING: PostgreSQL is not reachable at $(PG_URL); skipping the PostgreSQL run of the suite." >&2; \
	fi

# Benchmarks (not part of `make test`): PostgreSQL at BENCH_DATABASE_URL (default: the tessera_bench
# database on 127.0.0.1, dropped and re-created) and pgbench (Debian: postgresql-client). See bench/README.md.
bench: $(STAMP)
	@command -v pgbench >/dev/null || { echo "pgbench is missing: apt-get install postgresql-client" >&2; exit 1; }
	$(BIN)/python bench/pos.py
	$(BIN)/python bench/expiry.py
	$(BIN)/python bench/tiers.py
	$(BIN)/python bench/imports.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/campaign.py
	$(BIN)/python bench/exports.py

# Three minutes of mixed POS traffic through worker, huey and PostgreSQL restarts; fails on any request
# applied twice or lost, or a ledger that does not verify. It RESTARTS the machine's PostgreSQL.
soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes 3

messages: $(STAMP)
	cd src/tessera && $(DEV_ENV) ../../$(BIN)/tessera makemessages -l vi -l zh_Hans --no-obsolete --ignore 'tests/*'
	cd src/tessera && $(DEV_ENV) ../../$(BIN)/tessera compilemessages

screenshots: $(STAMP)
	$(DEV_ENV) $(BIN)/tessera screenshots --out docs/screenshots

clean:
	rm -rf $(VENV) var
