#!/usr/bin/env bash
# Configures and builds Keycast.
#   scripts/build.sh [--type Release|RelWithDebInfo|Debug] [--sanitize address,undefined|thread]
#                    [--dir build-dir] [--fuzz] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
type=RelWithDebInfo; sanitize=""; dir=""; fuzz=0; targets=()
while (($#)); do
  case "$1" in
    --type) type="$2"; shift 2 ;;
    --sanitize) sanitize="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --fuzz) fuzz=1; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
args=(-DCMAKE_BUILD_TYPE="$type")
# mold links the ~40 test binaries several times faster than ld.bfd
# (scripts/setup.sh installs it); ccache, when a developer has it, shares
# objects between builds and git worktrees (paths relative to the parent folder).
if command -v mold >/dev/null 2>&1; then
  args+=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=mold -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=mold)
fi
if command -v ccache >/dev/null 2>&1 && [[ "${KEYCAST_CCACHE:-1}" != 0 ]]; then
  args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}" CCACHE_NOHASHDIR=1
fi
if ((fuzz)) || [[ "$sanitize" == "address,undefined" ]]; then
  # One clang build serves the ASan+UBSan test suite and the libFuzzer
  # targets: every object is compiled with ASan, UBSan and the fuzzer's
  # coverage instrumentation, the tests link gtest's main and the fuzz
  # targets libFuzzer's. -O0: sanitizer builds at -O1 take 2.5 times as long to compile.
  dir="${dir:-build-asan}"
  args+=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKEYCAST_FUZZ=ON
         -DKEYCAST_SANITIZE=address,undefined -DKEYCAST_BENCH=OFF
         -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1")
elif [[ -n "$sanitize" ]]; then
  dir="${dir:-build-${sanitize//,/-}}"
  args+=(-DKEYCAST_SANITIZE="$sanitize" -DKEYCAST_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1")
else
  dir="${dir:-build}"
fi
cmake -S . -B "$dir" "${args[@]}" >/dev/null
jobs="$(nproc)"
if ((${#targets[@]})); then
  cmake --build "$dir" -j"$jobs" --target "${targets[@]}"
else
  cmake --build "$dir" -j"$jobs"
fi
echo "$dir"
