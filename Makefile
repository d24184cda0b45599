# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# -j2: the Python venv and the provider schemas' npm install are made at the same time (make test needs both)
MAKEFLAGS += -j2
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real Terraform providers' schemas (tests/infra/test_provider_schema.py): exact versions from the lockfile.
SCHEMAS := tools/provider-schemas
SCHEMA_STAMP := $(SCHEMAS)/node_modules/.installed

.PHONY: demo test lint bench serve clean install lock engine-lock soak mutation

$(STAMP): pyproject.toml tools/uv-requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# uv (pinned with hashes: tools/uv-requirements.txt) installs the project into the venv: the same versions pip
	@# resolves, in ~5 s instead of pip's 22 s on the CI machine. Like pip --no-compile, it compiles no bytecode
	@# (modules are compiled when first imported, only those used)
	$(BIN)/python -m pip install -q --require-hashes -r tools/uv-requirements.txt
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	@# actionlint (tests/contract) runs shellcheck over run: scripts; install Debian's when we can (root + apt-get)
	@command -v shellcheck >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q shellcheck || { apt-get update -q && apt-get install -y -q shellcheck; }; }; } || \
	  echo "NOTICE: shellcheck is not installed (needs root + apt-get): actionlint will run without shell checks"
	@# the link flow is tested in a real headless browser: Debian's chromium (Playwright never downloads one)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; }; } || \
	  echo "NOTICE: chromium is not installed (needs root + apt-get): the browser test will be skipped"
	touch $(STAMP)

$(SCHEMA_STAMP): $(SCHEMAS)/package.json $(SCHEMAS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "ERROR: npm is needed to install the provider schemas ($(SCHEMAS))"; exit 1; }
	cd $(SCHEMAS) && npm ci --ignore-scripts --legacy-peer-deps --no-audit --no-fund --loglevel=error
	touch $(SCHEMA_STAMP)

install: $(STAMP) $(SCHEMA_STAMP)

demo: $(STAMP)
	$(BIN)/python -m sandbox.demo

# -n: two workers per core, at most 8 (tests use ephemeral ports, tmp files and their own PostgreSQL schemas). With
# one per core the suite used 1.15 of 2 cores: many tests wait on bot processes, leases and subprocesses
# (docs/benchmarks.md, "make test"). loadfile: a file's tests share a worker (one dockerd for tests/container);
# --no-loadscope-reorder: files start in collection order, where tests/conftest.py puts the slowest first
# (SLOW_FIRST); --durations: what takes the time
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n * 2 > 8 ? 8 : n * 2 )))
# lint runs beside the tests (13 s of one core) and prints after them; either failing fails `make test`.
# PYTHONDONTWRITEBYTECODE= : where the environment sets it (this CI machine does), every bot process the tests start
# compiled the bot's modules again (0.12 s each); now the first import writes them to __pycache__
test: $(STAMP) $(SCHEMA_STAMP)
	@log=$$(mktemp); $(MAKE) --no-print-directory lint > "$$log" 2>&1 & lint=$$!; \
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	  --durations=15; tests=$$?; \
	wait $$lint; linted=$$?; cat "$$log"; rm -f "$$log"; \
	[ $$linted -eq 0 ] || echo "make test: lint FAILED (above)"; [ $$tests -eq 0 ] && [ $$linted -eq 0 ]

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy bot chatops handlers
	$(BIN)/lint-imports

# requirements.lock: the image's hash-pinned runtime dependencies (docs/deploy-container.md)
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

# issue 24 item 6: 10 minutes of mixed traffic under injected faults, two replicas on PostgreSQL (CHATOPS_TEST_PG);
# prints the invariants table (docs/reliability.md) and fails unless lost = 0 and duplicated = 0.
# The 60-second version is tests/reliability/test_soak_pg.py, inside `make test`.
soak: $(STAMP)
	$(BIN)/python -m sandbox.soak --seconds 600

# Mutation testing (docs/testing.md): mutmut on the modules that decide who may act and what
# alerts, with the fast tests that reach them. Not part of `make test`: about 12 minutes on one core. Fails when a
# module kills under 95 % of the mutants that can change behaviour (tools/mutation-equivalent.txt lists the rest).
# Paths live only here: when a module moves, change MUTATE (and MUTATION_TESTS if its tests move).
MUTATE := bot/identity/rbac.py bot/deploys/commands.py bot/alerts/rules.py bot/alerts/rule_config.py
MUTATION_TESTS := tests/unit/policy/test_rbac.py tests/unit/policy/test_rbac_teams.py tests/unit/test_commands.py \
	tests/unit/test_commands_stats.py tests/unit/security tests/security/test_rules_and_parsing.py
# Hypothesis property tests that take seconds per mutant: left out (the example tests above pin the same behaviour)
MUTATION_SKIP := tests/unit/test_commands.py::test_parse_never_raises_and_only_accepts_valid_refs \
	tests/unit/test_commands.py::test_validate_ref_accepted_refs_are_safe
MUTATION_CHILDREN ?= 1

mutation: $(STAMP)
	$(BIN)/python tools/mutation.py --modules $(MUTATE) --tests $(MUTATION_TESTS) --skip $(MUTATION_SKIP) \
	  --max-children $(MUTATION_CHILDREN)

bench: $(STAMP)
	@# the ingest rows are measured with wrk (a C load generator); install Debian's when we can (root + apt-get)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q wrk || { apt-get update -q && apt-get install -y -q wrk; }; }; } || \
	  echo "NOTICE: wrk is not installed (needs root + apt-get): the ceiling and ingest rows will be skipped"
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/python -m bot serve

# The vendored release engine's hash-pinned lock (bot/actions/release/requirements.txt), from PyPI, for Python 3.11.
engine-lock: $(STAMP)
	cd bot/actions/release && PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_CONSTRAINT= \
	  CUSTOM_COMPILE_COMMAND="make engine-lock" $(abspath $(BIN))/pip-compile --quiet --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple \
	  --output-file requirements.txt requirements.in

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache chatops.db mutants setup.cfg
