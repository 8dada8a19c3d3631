#!/usr/bin/env bash
# Sync backend/.venv with backend/uv.lock: `tools/sync-venv.sh UV PYTHON [uv sync options, e.g. --extra local-model]`.
#
# Why not a plain `uv sync`: llama-cpp-python (the local-model extra) is published only as an sdist and takes
# 5-10 minutes to compile on 2 cores. uv keeps the wheel it builds with one cached download of the sdist, and
# downloads the sdist again whenever its cached HTTP response is stale, which throws the build away. So the
# wheel uv built (from the sdist whose hash the lock pins) is kept in a per-machine wheelhouse
# ($SECUREAI_WHEELHOUSE, default ~/.cache/secureai/wheels) and installed from there; everything else is synced
# exactly as locked.
#
# Bytecode is compiled at install time (uv's --compile-bytecode for the dependencies, compileall for app/): uv
# does not compile by default, and where PYTHONDONTWRITEBYTECODE=1 is set (common in containers and CI) nothing
# is ever cached, so every `secureai` start compiled SQLAlchemy, FastAPI and app/ again (3.3 s against 1.4 s
# for `secureai --version` on 2 cores).
set -euo pipefail
uv=$(realpath "$1")
python=$2
shift 2
cd "$(dirname "$0")/../backend"
compile_app() {
    .venv/bin/python -m compileall -q -j 0 app scripts >/dev/null
}
if [[ " $* " != *" local-model "* && " $* " != *"--extra=local-model"* && " $* " != *"--all-extras"* ]]; then
    "$uv" sync --frozen --python "$python" --quiet --compile-bytecode "$@"
    compile_app
    exit 0
fi
version=$(awk '/^name = "llama-cpp-python"$/ { getline; gsub(/"/, "", $3); print $3; exit }' uv.lock)
flavour=portable-avx2
house=${SECUREAI_WHEELHOUSE:-$HOME/.cache/secureai/wheels}/$flavour
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON ${CMAKE_ARGS:-}"
wheel=$(ls "$house"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n 1 || true)
if [[ -n "$wheel" ]]; then
    "$uv" sync --frozen --python "$python" --quiet --compile-bytecode "$@" --no-install-package llama-cpp-python
    "$uv" pip install --python .venv/bin/python --no-deps --reinstall --quiet --compile-bytecode "$wheel"
    compile_app
    exit 0
fi
echo "building llama-cpp-python $version ($flavour) once for this machine (5-10 minutes; kept in $house)" >&2
# --refresh-package: uv's cache may hold a wheel built with other flags (uv does not key it on CMAKE_ARGS)
"$uv" sync --frozen --python "$python" --quiet --compile-bytecode "$@" --refresh-package llama-cpp-python \
    --reinstall-package llama-cpp-python
built=$(ls -t "$("$uv" cache dir)"/sdists-v*/pypi/llama-cpp-python/"$version"/*/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n 1 || true)
if [[ -n "$built" ]]; then
    mkdir -p "$house"
    cp "$built" "$house/"
fi
compile_app
