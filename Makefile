# The two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Worker processes of `make run` (gunicorn).
WEB_CONCURRENCY ?= 2
export WEB_CONCURRENCY

.PHONY: run test test-sqlite test-postgres postgres browser screenshots bench bench-scale bench-load clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) app.py

# The whole suite twice at once: on SQLite files (with the browser tests) and on a private PostgreSQL
# server (pgserver.py; the browser tests run their own SQLite server, so once is enough).
test: $(STAMP) postgres browser
	@mkdir -p .test-logs
	@($(PY) -m pytest -q -p no:cacheprovider > .test-logs/sqlite.log 2>&1; echo $$? > .test-logs/sqlite.rc) & \
	$(PY) pgserver.py -- $(PY) -m pytest -q -p no:cacheprovider --ignore=tests/e2e > .test-logs/postgres.log 2>&1; \
	echo $$? > .test-logs/postgres.rc; wait; \
	echo "== PostgreSQL =="; cat .test-logs/postgres.log; \
	echo "== SQLite =="; cat .test-logs/sqlite.log; \
	test "$$(cat .test-logs/sqlite.rc)" = 0 && test "$$(cat .test-logs/postgres.rc)" = 0

test-sqlite: $(STAMP)
	$(PY) -m pytest -q

test-postgres: $(STAMP) postgres
	$(PY) pgserver.py -- $(PY) -m pytest -q --ignore=tests/e2e

# Debian's PostgreSQL server (with pg_trgm), installed when missing (as root, like CI).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib)

# Debian's Chromium and CJK fonts for tests/e2e (installed when missing, as root, as on CI);
# without them the browser tests are skipped with one loud line.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and fonts-noto-cjk for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
	      || echo "!!! could not install chromium: the browser tests will be skipped !!!"; \
	  else \
	    echo "!!! chromium or fonts-noto-cjk missing and not root: the browser tests will be skipped !!!"; \
	  fi; \
	fi

screenshots: $(STAMP) browser
	$(PY) tests/e2e/screenshots.py docs/screenshots

bench: $(STAMP)
	$(PY) bench/bench_inbox.py

# 1M customers, 3M communications, 200k complaints on SQLite and PostgreSQL (see bench/run.py).
# Bench-only dependencies (Django admin beside the console) stay out of requirements.txt.
$(VENV)/.bench-installed: bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench-scale: $(STAMP) $(VENV)/.bench-installed postgres
	$(PY) bench/run.py

# 4 workers × 20 clients writing for 60 s, then kill -9 under load, on SQLite and PostgreSQL.
bench-load: $(STAMP) postgres
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache .test-logs
