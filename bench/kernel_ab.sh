#!/bin/sh
# Compares the x86-64-v3 decode kernels of two revisions in one process (bench/kernel_ab.cc
# says why): the way to measure a kernel change on a machine whose speed drifts.
#
#   bench/kernel_ab.sh BASE [CANDIDATE] [-- kernel_ab options]
#
# BASE and CANDIDATE are git revisions; CANDIDATE defaults to the working tree ("."). Each
# revision's lib/src/retrieval/decode_kernels_x86v3.cc is compiled against that revision's
# own headers, with its entry point renamed; the harness links both with the Release
# library of build/release (configure and build it first; BUILD_DIR overrides). Both
# revisions must share the DecodeKernels interface of retrieval/decode_kernels.h.
# Example: bench/kernel_ab.sh HEAD~1 -- --t 4,8,10 --rounds 40
set -eu

usage() { echo "usage: bench/kernel_ab.sh BASE [CANDIDATE] [-- kernel_ab options]" >&2; exit 1; }
[ $# -ge 1 ] || usage
base=$1
shift
candidate=.
if [ $# -ge 1 ] && [ "$1" != "--" ]; then candidate=$1; shift; fi
if [ $# -ge 1 ]; then [ "$1" = "--" ] || usage; shift; fi

root=$(git rev-parse --show-toplevel)
build=${BUILD_DIR:-$root/build/release}
[ -f "$build/lib/libweightless.a" ] || { echo "no $build/lib/libweightless.a: build Release first" >&2; exit 1; }
cxx=${CXX:-c++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags="-O3 -DNDEBUG -std=c++17 -fPIC -ffp-contract=off -I$build/format/generated"

# compile REV NAME: the revision's kernels, with X86V3DecodeKernels renamed NAME
compile() {
  src=$work/$2
  mkdir -p "$src"
  if [ "$1" = "." ]; then
    cp -R "$root/lib" "$src/lib"
  else
    git -C "$root" archive "$1" lib | tar -x -C "$src"
  fi
  # The namespace and the entry point get names of their own, so both copies link.
  "$cxx" $flags -mavx2 -mbmi -mbmi2 -mfma -mpopcnt -Dx86v3="ab_$2" -DX86V3DecodeKernels="$2" \
    -I"$src/lib/include" -I"$src/lib/src" -c "$src/lib/src/retrieval/decode_kernels_x86v3.cc" \
    -o "$work/$2.o"
}
compile "$base" BaseKernels
compile "$candidate" CandidateKernels
"$cxx" $flags -I"$root/lib/include" -I"$root/lib/src" -c "$root/bench/kernel_ab.cc" -o "$work/main.o"
"$cxx" "$work/main.o" "$work/BaseKernels.o" "$work/CandidateKernels.o" "$build/lib/libweightless.a" \
  $(pkg-config --libs libxxhash libzstd) -lpthread -o "$work/kernel_ab"
echo "base $base ($(git -C "$root" rev-parse --short "$( [ "$base" = . ] && echo HEAD || echo "$base")")), candidate $candidate"
"$work/kernel_ab" "$@"
