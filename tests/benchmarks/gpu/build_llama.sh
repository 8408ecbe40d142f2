#!/usr/bin/env bash
# Build the vendored llama.cpp of llama-cpp-python 0.3.36 for CUDA (sm_90): the shared libraries
# Hearth loads (libllama, libggml*) and llama-bench, in one cmake build, so both sides of the
# comparison run the same binaries.
#
#   build_llama.sh SRC_TAR_XZ BUILD_DIR [SRC_ROOT]
#
# SRC_TAR_XZ is carry/llama-cpp-python-src.tar.xz (prepare_carry.sh). The source is unpacked to
# SRC_ROOT (default /tmp/llama-src); results land in BUILD_DIR/bin. The cuBLAS headers and
# libraries may live in a pip wheel (site-packages/nvidia/cu13) rather than in the toolkit, and
# the driver may ship only libcuda.so.1: a shim folder with the names cmake looks for covers both.
# EXTRA_CUDA_SEARCH (space-separated include dirs) adds places to look for cublas_v2.h.
# PREBUILT=bin.tar.xz: unpack an earlier build's bin/ (run_device.sh returns one in
# $OUT/prebuilt/) into BUILD_DIR/bin instead of compiling; it must have been built with the same
# BUILD_DIR, whose absolute path its RUNPATHs name.
set -euo pipefail
TARBALL="$(realpath "$1")"
BUILD="$(realpath -m "$2")"
SRC_ROOT="${3:-/tmp/llama-src}"
JOBS="${JOBS:-$(nproc)}"

mkdir -p "$SRC_ROOT" "$BUILD"
if [ ! -f "$SRC_ROOT/.unpacked" ]; then
    tar -C "$SRC_ROOT" -xJf "$TARBALL"
    touch "$SRC_ROOT/.unpacked"
fi
V="$(echo "$SRC_ROOT"/llama_cpp_python-*/vendor/llama.cpp)"

# -- cuBLAS and the driver library ------------------------------------------------------------
search_dirs() {
    echo /usr/local/cuda/include /usr/local/cuda/targets/x86_64-linux/include /usr/include
    python3 - <<'EOF' 2>/dev/null || true
import glob, site
roots = site.getsitepackages() + [site.getusersitepackages()]
for sp in roots:
    for d in glob.glob(sp + "/nvidia/*/include") + glob.glob(sp + "/nvidia/*/*/include"):
        print(d)
EOF
    echo ${EXTRA_CUDA_SEARCH:-}
}
HDR=""
for d in $(search_dirs); do
    if [ -f "$d/cublas_v2.h" ]; then HDR="$d"; break; fi
done
if [ -z "$HDR" ]; then
    HDR="$(dirname "$(find / \( -path /proc -o -path /sys \) -prune -o -name cublas_v2.h -print 2>/dev/null | head -1)")"
fi
[ -f "$HDR/cublas_v2.h" ] || { echo "cublas_v2.h not found" >&2; exit 2; }
LIBDIR=""
for d in "$HDR/../lib" "$HDR/../lib64" "$HDR/../targets/x86_64-linux/lib" /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu; do
    if ls "$d"/libcublas.so* >/dev/null 2>&1; then LIBDIR="$(realpath "$d")"; break; fi
done
if [ -z "$LIBDIR" ]; then
    LIBDIR="$(dirname "$(find / \( -path /proc -o -path /sys \) -prune -o -name 'libcublas.so*' -print 2>/dev/null | head -1)")"
fi
pick() { ls "$1"/$2.so* 2>/dev/null | sort | tail -1; }
CUBLAS="$(pick "$LIBDIR" libcublas)"
CUBLASLT="$(pick "$LIBDIR" libcublasLt)"
[ -n "$CUBLAS" ] && [ -n "$CUBLASLT" ] || { echo "libcublas not found (looked in $LIBDIR)" >&2; exit 2; }

SHIM="$BUILD/cuda-shim"
mkdir -p "$SHIM"
for n in libcublas.so libcublas.so.13 libcublas.so.12; do ln -sf "$CUBLAS" "$SHIM/$n"; done
for n in libcublasLt.so libcublasLt.so.13 libcublasLt.so.12; do ln -sf "$CUBLASLT" "$SHIM/$n"; done

LIBCUDA="$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 / {print $NF; exit}')"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
    [ -n "$LIBCUDA" ] && break
    [ -e "$d/libcuda.so.1" ] && LIBCUDA="$d/libcuda.so.1"
done
EXE_LDFLAGS=""
if [ -n "$LIBCUDA" ]; then
    ln -sf "$LIBCUDA" "$SHIM/libcuda.so"
else
    # No driver here (a build-only machine): link against an empty libcuda.so.1 stand-in;
    # the real driver resolves the symbols where the binaries run.
    echo 'void ggml_libcuda_stub(void) {}' > "$SHIM/stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$SHIM/libcuda.so" "$SHIM/stub.c"
    EXE_LDFLAGS="-Wl,--allow-shlib-undefined"
fi
echo "cuBLAS headers: $HDR"
echo "cuBLAS: $CUBLAS"
echo "cuBLASLt: $CUBLASLT"
echo "driver: ${LIBCUDA:-stub}"

if [ -n "${PREBUILT:-}" ]; then
    mkdir -p "$BUILD/bin"
    tar -C "$BUILD/bin" -xJf "$PREBUILT"
    echo "prebuilt: unpacked $PREBUILT"
    ls -la "$BUILD/bin"
    exit 0
fi

# -- configure and build ------------------------------------------------------------------------
INC=""
case "$HDR" in /usr/local/cuda*|/usr/include) ;; *) INC="-I$HDR" ;; esac
t0=$(date +%s)
cmake -S "$V" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON \
    -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DGGML_NATIVE=OFF -DGGML_CCACHE=OFF -DGGML_CUDA_NCCL=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DCUDA_cublas_LIBRARY="$SHIM/libcublas.so" \
    -DCUDA_cublasLt_LIBRARY="$SHIM/libcublasLt.so" \
    -DCUDA_cuda_driver_LIBRARY="$SHIM/libcuda.so" \
    -DCMAKE_CUDA_FLAGS="$INC" -DCMAKE_CXX_FLAGS="$INC" \
    -DCMAKE_EXE_LINKER_FLAGS="$EXE_LDFLAGS"
t1=$(date +%s)
cmake --build "$BUILD" --target llama llama-bench llama-server llama-batched-bench -j "$JOBS"
t2=$(date +%s)
echo "configure: $((t1 - t0)) s, build: $((t2 - t1)) s with $JOBS jobs"
grep -E "^(GGML_CUDA_GRAPHS|GGML_NATIVE|CMAKE_CUDA_ARCHITECTURES|GGML_CUDA_FA)[:=]" "$BUILD/CMakeCache.txt" || true
ls -la "$BUILD/bin"
