# The two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench clean browser screenshots

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) app.py

test: $(STAMP) browser
	$(PY) -m pytest -q

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

clean:
	rm -rf $(VENV) .pytest_cache
