# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test test-tensorflow test-torch demo bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The whole suite under TensorFlow, then every test that touches Keras under PyTorch.
test: install
	$(MAKE) test-tensorflow
	$(MAKE) test-torch

test-tensorflow: install
	KERAS_BACKEND=tensorflow $(PY) -m pytest tests

test-torch: install
	KERAS_BACKEND=torch $(PY) -m pytest tests -m keras

demo: install
	$(VENV)/bin/kvs demo --out demo-out

bench: install
	$(VENV)/bin/kvs bench all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
