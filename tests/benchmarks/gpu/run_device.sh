#!/usr/bin/env bash
# The whole GPU run, in one command on the GPU machine (run from the repository root):
#
#   bash tests/benchmarks/gpu/run_device.sh            # results and logs in $OUT (or ./gpu-out)
#
# 1. installs the carried wheels (carry/wheels) into /tmp/site;
# 2. writes the gpt-oss-20b-shaped model to /tmp (make_model.py) in the background, while
# 3. cmake builds llama.cpp's CUDA libraries and llama-bench from the carried sdist (build_llama.sh);
# 4. puts llama-cpp-python's pure-Python package from that sdist on PYTHONPATH with the CUDA
#    libraries in its lib/ folder (no second compile of the same sources);
# 5. runs bench_gpu.py: llama-bench, then Hearth's Engine.
# A second call on a machine still warm finds the build and the model and skips 2-3.
# TIME_LIMIT (seconds, default 590) bounds the whole script. With carry/prebuilt.tar.xz present
# (the parts an earlier call returned in $OUT/prebuilt/, joined with cat) nothing is compiled.
# BENCH_ARGS are passed on to bench_gpu.py.
set -uo pipefail
START=$(date +%s)
LIMIT="${TIME_LIMIT:-590}"
left() { echo $((LIMIT - ($(date +%s) - START))); }
G=tests/benchmarks/gpu
C=$G/carry
BUILD="$PWD/$G/build"
MODEL=/tmp/gpt-oss-20b-shaped.gguf
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv
python3 --version; nproc; free -g | head -2; df -h /tmp | tail -1
cmake --version | head -1; ninja --version; nvcc --version | tail -2; gcc --version | head -1

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$C"/wheels/*.whl || exit 1
export PYTHONPATH=/tmp/site

if [ ! -f "$MODEL" ]; then
    (nice python3 "$G/make_model.py" "$MODEL" > /tmp/model.log 2>&1) &
    MODEL_PID=$!
else
    MODEL_PID=""
    echo "model already there" > /tmp/model.log
fi

echo "== build ($(left) s left)"
if [ -f "$C/prebuilt.tar.xz" ] && [ ! -x "$BUILD/bin/llama-bench" ]; then
    export PREBUILT="$PWD/$C/prebuilt.tar.xz"
fi
if ! JOBS=16 bash "$G/build_llama.sh" "$C/llama-cpp-python-src.tar.xz" "$BUILD" > /tmp/build.log 2>&1; then
    tail -60 /tmp/build.log
    exit 1
fi
tail -40 /tmp/build.log > "$OUT/build-tail.log"
grep -E "^(cuBLAS|driver|configure:|prebuilt:)" /tmp/build.log
[ -n "$MODEL_PID" ] && { wait "$MODEL_PID" || { cat /tmp/model.log; exit 1; }; }
cat /tmp/model.log

# llama-cpp-python's Python package from the same sdist, with the CUDA libraries beside it.
PKG=/tmp/pylib
rm -rf "$PKG" && mkdir -p "$PKG"
cp -r /tmp/llama-src/llama_cpp_python-*/llama_cpp "$PKG/"
mkdir -p "$PKG/llama_cpp/lib"
cp -P "$BUILD"/bin/*.so* "$PKG/llama_cpp/lib/"
export PYTHONPATH="$PKG:/tmp/site"
export LD_LIBRARY_PATH="$BUILD/cuda-shim:$BUILD/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The built binaries, for a later call that finds no warm machine (if they fit what comes back).
if [ -z "${PREBUILT:-}" ] && [ "$(left)" -gt 200 ]; then
    tar -C "$BUILD/bin" -cf - . | xz -T16 -1 > /tmp/prebuilt.tar.xz
    size=$(stat -c %s /tmp/prebuilt.tar.xz)
    echo "prebuilt binaries: $((size / 1048576)) MiB compressed"
    if [ "$size" -lt $((60 * 1048576)) ]; then
        mkdir -p "$OUT/prebuilt" && split -b 15M -d /tmp/prebuilt.tar.xz "$OUT/prebuilt/part"
    fi
fi

echo "== bench ($(left) s left)"
if [ "${BENCH:-gpu}" = speed ]; then  # issue 20: llama-bench, llama-server and Hearth (bench_speed.py)
    timeout $(( $(left) - 10 )) python3 "$G/bench_speed.py" "$MODEL" --bin "$BUILD/bin" \
        --budget $(( $(left) - 40 )) --out "$OUT/speed.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
elif [ "${BENCH:-gpu}" = batch ]; then  # issue 19: llama-batched-bench, then Hearth's BatchDecoder
    # The same shapes on both sides: a prompt shared by every sequence (-pps), 64 tokens each.
    timeout 240 "$BUILD/bin/llama-batched-bench" -m "$MODEL" -c 16384 -b 2048 -ub 512 -ngl 99 \
        -npp 128 -ntg 64 -npl 1,4,8,16,32 -pps 2>&1 | tee "$OUT/batched-bench.log" | grep -E "^\|"
    timeout $(( $(left) - 10 )) python3 tests/benchmarks/bench_batch.py --model "$MODEL" \
        --gpu-layers -1 --widths 1,4,8,16,32 --tokens 64 --docs 0 --out "$OUT/batch.json" \
        ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
else
    timeout $(( $(left) - 10 )) python3 "$G/bench_gpu.py" "$MODEL" --llama-bench "$BUILD/bin/llama-bench" \
        --llama-bench-timeout 180 --out "$OUT/gpu.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
fi
rc=${PIPESTATUS[0]}
[ -f /tmp/llama-server.log ] && grep -iE "error|fail" /tmp/llama-server.log | head -5
echo "== done in $(( $(date +%s) - START )) s, bench exit $rc"
nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
exit "$rc"
