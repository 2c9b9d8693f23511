# Quick start: `make run` (venv, install, migrate, seed, serve with the job worker) and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
FLASK    = $(BIN)/flask --app app
HOST    ?= 127.0.0.1
PORT    ?= 5000

.PHONY: run dev test lint bench translations messages

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.runtime $@

# compile the zh_CN / en catalogs (the .mo files are build products, not committed; the
# app also compiles missing or stale ones at start-up). admin.po supplements Flask-Admin's.
translations: $(VENV)/.runtime
	$(BIN)/pybabel -q compile -d translations
	$(BIN)/pybabel -q compile -D admin -d translations

run: $(VENV)/.runtime translations
	$(FLASK) db upgrade
	$(FLASK) seed
	$(FLASK) seed-demo --if-empty
	@echo
	@if [ -f instance/admin_password ]; then \
	  echo "  Log in at http://$(HOST):$(PORT)/login as admin / $$(cat instance/admin_password)"; \
	else echo "  Log in at http://$(HOST):$(PORT)/login as admin (password from CRM_ADMIN_PASSWORD)"; fi
	@echo "  Demo users (password demo12345): exec1, director1, am1, clerk1, finance1, service1, marketing1, sysadmin1"
	@echo "  Background jobs (imports) run in a worker beside the web server (flask run-jobs)."
	@echo
	@# the job worker runs beside gunicorn and stops with it (Ctrl-C or any exit)
	$(FLASK) run-jobs & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --workers $$(nproc) --bind $(HOST):$(PORT) --access-logfile - 'app:create_app()'

# the Flask development server with the debugger and auto-reload
dev: $(VENV)/.runtime translations
	$(FLASK) run-jobs & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --debug --host $(HOST) --port $(PORT)

# the suite in parallel, one pytest-xdist worker per core. --dist load (tests handed out
# one by one) beat loadfile (a file per worker) by 40%: no worker idles behind a long
# file, but a module fixture (module_app) is built on every worker. worksteal gives each
# worker a contiguous half and lets an idle one steal from the other's end, so a module
# mostly stays on one worker and the end stays balanced (docs/testing.md).
# TEST_WORKERS=0 runs serially; TEST_ARGS passes more options
# (e.g. TEST_ARGS="--durations=30 tests/test_x.py").
TEST_WORKERS ?= auto
TEST_ARGS    ?=
test: $(VENV)/.dev translations
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(TEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the big lists at 10 k and 1 M clients over HTTP (gunicorn, one worker), databases built
# once and reused under $(CRM_BENCH_DIR); BENCH_ARGS e.g. "--db both --pg-url postgresql+psycopg://…"
# (docs/scale.md). bench/list_pages.py stays: the users list through the test client.
CRM_BENCH_DIR ?= /tmp/crm-bench
BENCH_ARGS    ?=
bench: $(VENV)/.dev translations
	CRM_BENCH_DIR=$(CRM_BENCH_DIR) $(BIN)/python bench/lists.py $(BENCH_ARGS)

# after changing user-visible strings: extract them and merge into the catalogs
messages: $(VENV)/.runtime
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k _lp:1c,2 -k label -k N_ -o translations/messages.pot .
	$(BIN)/python tools/prune_pot.py translations/messages.pot
	$(BIN)/pybabel -q update -i translations/messages.pot -d translations --no-fuzzy-matching
