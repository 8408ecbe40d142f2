#!/usr/bin/env bash
# Prepare tests/benchmarks/gpu/carry/ on a machine with network access, for a GPU machine without.
#
#   llama-cpp-python-src.tar.xz  the llama-cpp-python 0.3.36 sdist (its vendored llama.cpp is what
#                                both Hearth's CUDA libllama and llama-bench are built from), pruned
#                                of what a CUDA build of libllama + llama-bench never reads
#   wheels/                      pure-Python wheels the GPU image lacks (gguf 0.19.0, diskcache)
#
# The folder is git-ignored (.git/info/exclude) and travels with the device call as `carry`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
CARRY="$HERE/carry"
VERSION=0.3.36
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$CARRY/wheels"
"$PY" -m pip download -q --no-deps --no-binary=:all: "llama-cpp-python==$VERSION" -d "$WORK"
tar -C "$WORK" -xzf "$WORK/llama_cpp_python-$VERSION.tar.gz"
SRC="$WORK/llama_cpp_python-$VERSION"
V="$SRC/vendor/llama.cpp"

# The sdist ships git metadata (38 MB of packs); record the vendored commit and drop it.
git -C "$V" rev-parse HEAD > "$SRC/VENDORED_LLAMA_CPP_COMMIT" 2>/dev/null \
    || cat "$SRC/.git/modules/vendor/llama.cpp/HEAD" > "$SRC/VENDORED_LLAMA_CPP_COMMIT"
rm -rf "$SRC"/.git "$SRC"/.github "$V"/.git "$V"/.github "$V"/.devops "$V"/.gemini "$V"/.pi

# Nothing below is compiled or read by: cmake -DGGML_CUDA=ON -DLLAMA_BUILD_SERVER=ON ...
#   --target llama llama-bench llama-server llama-batched-bench
rm -rf "$SRC"/{docs,examples,tests,docker}
rm -rf "$V"/{models,docs,media,benches,tests,examples,pocs,gguf-py,conversion,skills,ci,grammars,requirements}
rm -rf "$V"/tools/server/{tests,bench}       # llama-server itself is built (the peer measured beside Hearth)
rm -rf "$V"/tools/mtmd/test-*                # sample media
for b in cann et hexagon hip metal musa opencl openvino sycl virtgpu vulkan webgpu zdnn zendnn; do
    rm -rf "$V/ggml/src/ggml-$b"             # backends that stay off (GGML_<NAME>=OFF)
done

rm -f "$CARRY/llama-cpp-python-src.tar.xz"
tar -C "$WORK" -cf - "llama_cpp_python-$VERSION" | xz -T0 -6 > "$CARRY/llama-cpp-python-src.tar.xz"

# The GPU image has Python 3.12 with numpy, pyyaml, tqdm, requests, jinja2, psutil,
# nvidia-ml-py, typing-extensions, cmake, ninja (KINDS.md); these two are missing.
rm -f "$CARRY"/wheels/*.whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform any -d "$CARRY/wheels" gguf==0.19.0 diskcache==5.6.3

du -sh "$CARRY"/* "$CARRY"/wheels/*
