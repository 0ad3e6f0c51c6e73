# Python bindings (ctypes, bindings/python): `make python-test` builds the
# library, makes a venv under build/ with pytest and flit_core (first run
# only), installs the package into it (pure Python: no compiler) and runs
# its tests against target/release/libwalstore.so through WALSTORE_LIB.
#
# Needs python3 with venv. If `python3 -m venv` fails (Debian without
# python3-venv), it installs python3-venv with apt-get when running as root,
# else prints "== SKIP python-test: <reason>". No access to PyPI for pytest
# is also a SKIP; a package that fails to install or a failing test fails.

PYTHON3      ?= python3
PY_VENV      := $(BUILD)/python-venv
PY_VENV_PY   := $(PY_VENV)/bin/python
PY_READY     := $(PY_VENV)/.ready
PY_PIP       := env PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 $(PY_VENV_PY) -m pip --quiet

.PHONY: python-test python-venv

# Creates the venv; prints a SKIP line and leaves no $(PY_READY) when it
# cannot.
python-venv:
	@if [ -f $(PY_READY) ] && $(PY_VENV_PY) -c 'import pytest, flit_core' >/dev/null 2>&1; then exit 0; fi; \
	rm -rf $(PY_VENV); mkdir -p $(BUILD); \
	if ! command -v $(PYTHON3) >/dev/null 2>&1; then \
	  echo "== SKIP python-test: no $(PYTHON3)"; exit 0; \
	fi; \
	if ! $(PYTHON3) -m venv $(PY_VENV) >/dev/null 2>&1; then \
	  rm -rf $(PY_VENV); \
	  why="installing python3-venv needs root and apt-get"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "== installing python3-venv for the Python bindings' tests"; \
	    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; then \
	      why="it still fails after installing python3-venv"; \
	    else \
	      why="apt-get could not install python3-venv"; \
	    fi; \
	    $(PYTHON3) -m venv $(PY_VENV) >/dev/null 2>&1 || rm -rf $(PY_VENV); \
	  fi; \
	  if [ ! -x $(PY_VENV_PY) ]; then \
	    echo "== SKIP python-test: '$(PYTHON3) -m venv' does not work and $$why"; \
	    exit 0; \
	  fi; \
	fi; \
	echo "== installing pytest into $(PY_VENV) (first run only)"; \
	if ! $(PY_PIP) install pytest 'flit_core>=3.4,<5'; then \
	  rm -rf $(PY_VENV); \
	  echo "== SKIP python-test: pip could not install pytest and flit_core (no access to PyPI?)"; \
	  exit 0; \
	fi; \
	touch $(PY_READY)

python-test: lib python-venv
	@if [ ! -f $(PY_READY) ]; then exit 0; fi; \
	set -e; \
	$(PY_PIP) install --no-deps --no-build-isolation --force-reinstall ./bindings/python; \
	cd bindings/python && env WALSTORE_LIB=$(LIBDIR)/libwalstore.so PYTHONDONTWRITEBYTECODE=1 \
	  $(PY_VENV_PY) -m pytest -q -rs -p no:cacheprovider -W error::ResourceWarning tests; \
	echo "== python-test: the Python bindings pass against $(LIBDIR)/libwalstore.so"

TEST_EXTRA += python-test
