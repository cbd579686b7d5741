#!/bin/sh
# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
#
# No tool dies on bad input. Runs wl-dump, wl-verify, wl-decode and wl-encode on every
# file of the directories given (the must-reject .wl files, the bad interchange files,
# the interchange fuzz corpora) and fails if a run ends with a signal or with an exit
# code the tool does not document (tools/README.md; wl-verify may not call any of them
# sound), or fails without saying why:
# on stderr, or for wl-verify (which reports on stdout) with a DAMAGED or UNUSABLE line.
# The interchange tools read a file by its extension, so each input is also tried as
# IN.safetensors and as IN.npy.
#
#   robustness.sh SCRATCH WL-DUMP WL-VERIFY WL-DECODE WL-ENCODE DIR...
set -u
scratch=$1 dump=$2 verify=$3 decode=$4 encode=$5
shift 5
rm -rf "$scratch" && mkdir -p "$scratch" || exit 1
failures=0 runs=0

# check TOOL CODES STREAM FILE CMD...: CODES is the list of allowed exit codes.
check() {
  tool=$1 codes=$2 stream=$3 file=$4
  shift 4
  "$@" >"$scratch/out" 2>"$scratch/err"
  code=$?
  runs=$((runs + 1))
  why=""
  if [ "$code" -gt 128 ]; then
    why="killed by signal $((code - 128))"
  else
    case " $codes " in
      *" $code "*) ;;
      *) why="exit $code, documented: $codes" ;;
    esac
  fi
  if [ -z "$why" ] && [ "$code" -ne 0 ]; then
    if [ "$stream" = stdout ]; then
      grep -q -e 'DAMAGED' -e 'UNUSABLE' "$scratch/out" || why="exit $code without a report"
    elif [ ! -s "$scratch/err" ]; then
      why="exit $code with nothing on stderr"
    fi
  fi
  if [ -n "$why" ]; then
    echo "FAIL: $tool on $file: $why"
    sed 's/^/  | /' "$scratch/err" | head -5
    failures=$((failures + 1))
  fi
}

for dir in "$@"; do
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    check wl-dump "0 1 2" stderr "$f" "$dump" "$f"
    check wl-verify "1 2" stdout "$f" "$verify" "$f"
    check wl-decode "0 1" stderr "$f" "$decode" "$f" "$scratch/out.safetensors"
    check wl-decode "0 1" stderr "$f" "$decode" "$f" "$scratch/npy"
    cp "$f" "$scratch/in.safetensors" && cp "$f" "$scratch/in.npy"
    check wl-encode "0 1" stderr "$f" "$encode" --seeds 1 --threads 1 "$f" "$scratch/out.wl"
    check wl-encode "0 1" stderr "$f" "$encode" --seeds 1 --threads 1 "$scratch/in.safetensors" \
      "$scratch/out.wl"
    check wl-encode "0 1" stderr "$f" "$encode" --seeds 1 --threads 1 "$scratch/in.npy" \
      "$scratch/out.wl"
    rm -rf "$scratch/npy" "$scratch/out.wl" "$scratch/out.safetensors"
  done
done
if [ "$failures" -ne 0 ]; then
  echo "robustness: $failures of $runs runs failed"
  exit 1
fi
echo "robustness: ok ($runs runs)"
