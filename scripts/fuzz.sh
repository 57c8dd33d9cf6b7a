#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ with clang++ and runs each for SECONDS (default 15).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# The whole tree is compiled with -fsanitize=fuzzer-no-link,address,undefined (so the libraries
# under test are instrumented); the fuzz executables link -fsanitize=fuzzer,address,undefined
# (tests/fuzz/CMakeLists.txt). Seeds: tests/fuzz/corpus/<target>/, tests/fuzz/corpus/<stem>/
# (<target> without _fuzz), and the shared path corpus for the routing targets. New inputs go to
# build-fuzz/corpus/<target>/, crashes to build-fuzz/artifacts/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-15}"
shift || true
jobs="${JOBS:-2}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found, skipped"
  exit 0
fi

cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DPORTICO_FUZZ=ON \
  "-DCMAKE_CXX_FLAGS=-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined" >/dev/null

if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <(ninja -C build-fuzz -t targets all | grep -o '^[a-z0-9_]*_fuzz:' | grep -v '^cmake_' | tr -d : | sort -u)
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz: no fuzz targets yet"
  exit 0
fi
ninja -C build-fuzz -j"$jobs" "${targets[@]}"

seeds_for() {
  local t=$1 stem=${1%_fuzz}
  local dirs=("tests/fuzz/corpus/$t" "tests/fuzz/corpus/$stem")
  case $t in path_normalizer_fuzz | router_fuzz) dirs+=(tests/fuzz/corpus/path) ;; esac
  for d in "${dirs[@]}"; do [[ -d $d ]] && echo "$d"; done
  return 0
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p build-fuzz/artifacts
failed=()
for t in "${targets[@]}"; do
  bin=$(find build-fuzz -type f -name "$t" -perm -u+x | head -1)
  if [[ -z $bin ]]; then
    echo "fuzz: $t was not built"
    failed+=("$t")
    continue
  fi
  work=build-fuzz/corpus/$t
  mkdir -p "$work"
  mapfile -t seeds < <(seeds_for "$t")
  dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=("-dict=tests/fuzz/$t.dict")
  log=build-fuzz/$t.log
  echo "fuzz: $t for ${seconds}s (seeds: ${seeds[*]:-none})"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/artifacts/$t-" "${dict[@]}" "$work" "${seeds[@]}" 2>"$log"; then
    grep -E '^(Done |stat::number_of_executed_units)' "$log" | sed "s/^/fuzz: $t: /" || true
  else
    tail -40 "$log"
    echo "fuzz: $t FAILED (log $log, inputs in build-fuzz/artifacts/)"
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: failures: ${failed[*]}"
  exit 1
fi
