# Two commands do all the set-up (README.md): `make run` and `make test`.
# BACKEND=auto|cpu|metal|cuda picks how llama.cpp is built (auto: Metal on Apple Silicon,
# CUDA where nvidia-smi lists a GPU and nvcc exists, CPU otherwise).
PYTHON  ?= python3
BACKEND ?= auto
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.hearth-installed

.PHONY: run test bench install clean

run: $(STAMP)
	@$(PY) packaging/check_qt.py  # Qt's X11 plugin needs a few libraries: names the missing ones
	$(PY) -m app

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	for b in tests/benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

install: $(STAMP)

# Re-runs when the dependencies or the install script change, or BACKEND differs from the
# one installed (packaging/install.sh compares and rebuilds llama.cpp only then).
$(STAMP): pyproject.toml packaging/install.sh
	PYTHON=$(PYTHON) BACKEND=$(BACKEND) sh packaging/install.sh $(VENV)
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
