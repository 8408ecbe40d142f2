# Two commands do all the set-up (README.md): `make run` and `make test`.
# BACKEND=auto|cpu|metal|cuda picks how llama.cpp is built (auto: Metal on Apple Silicon,
# CUDA where nvidia-smi lists a GPU and nvcc exists, CPU otherwise).
PYTHON  ?= python3
BACKEND ?= auto
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.hearth-installed
# llama.cpp's own llama-server, built once from the same pinned sources as the engine, so the
# tests that check Hearth's remote engine against it run (about 12 CPU-minutes, the first time).
# `make test LLAMA_SERVER=` skips the build; those tests are then skipped.
LLAMA_SERVER ?= $(VENV)/llama-server/bin/llama-server

.PHONY: run test bench install clean package install-desktop

run: $(STAMP)
	@$(PY) packaging/check_qt.py  # Qt's X11 plugin needs a few libraries: names the missing ones
	$(PY) -m app

test: $(STAMP) $(LLAMA_SERVER)
	HEARTH_LLAMA_SERVER=$(if $(LLAMA_SERVER),$(abspath $(LLAMA_SERVER))) \
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	for b in tests/benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

install: $(STAMP)

# The double-click app for this platform (packaging/build.py): dist/hearth/ and, where
# appimagetool is on PATH, an AppImage on Linux; dist/Hearth.app and Hearth.dmg on macOS.
package: $(STAMP)
	$(PY) packaging/build.py

# Linux: Hearth in the launcher — the bundle (built if missing) copied to
# ~/.local/share/hearth, its .desktop entry and icons into ~/.local/share.
install-desktop: $(STAMP)
	@[ -x dist/hearth/hearth-gui ] || $(PY) packaging/build.py --no-appimage
	$(PY) packaging/install_desktop.py dist/hearth

# Re-runs when the dependencies or the install script change, or BACKEND differs from the
# one installed (packaging/install.sh compares and rebuilds llama.cpp only then).
$(STAMP): pyproject.toml packaging/install.sh
	PYTHON=$(PYTHON) BACKEND=$(BACKEND) sh packaging/install.sh $(VENV)
	@touch $@

$(VENV)/llama-server/bin/llama-server: tests/fixtures/build_llama_server.sh | $(STAMP)
	PY=$(PY) bash tests/fixtures/build_llama_server.sh $(VENV)/llama-server

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist
