# Two commands: `make run` starts the whole app, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test venv system lint bench

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	touch $@

venv: $(VENV)/.installed

# Debian packages the app and its tests use: Redis (broker), nginx (the proxy in front of the
# web server) and Chromium (browser tests). nginx lives in /usr/sbin, outside a user's PATH.
system:
	@if ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null \
	    || ! PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server nginx chromium >/dev/null \
	  || echo "WARNING: could not install redis-server/nginx/chromium; see README."; \
	fi

run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_gallery
	$(PY) manage.py collectstatic --noinput -v0
	./scripts/run.sh

test: venv system
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	$(PY) benchmarks/model_latency.py
	@echo "With the app running (make run): $(PY) benchmarks/e2e_latency.py and benchmarks/load_test.py"
