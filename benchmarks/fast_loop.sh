#!/usr/bin/env bash
# Issue 10's fast loop: `make fast` run N times in a row (the first may pay for an install that
# pyproject.toml asks for, or for the Region maps pytest's cache does not hold yet), each
# run's wall-clock seconds and CPU seconds, then the median of the runs after the first.
# Run it on a quiet machine: two test processes fill two cores, so anything else running
# beside them shows in the figures.
#
#   benchmarks/fast_loop.sh [runs=4]
set -u
cd "$(dirname "$0")/.."
RUNS=${1:-4}
times=()
for run in $(seq "$RUNS"); do
  out=$( { /usr/bin/time -f "%e %U %S" make fast >/dev/null; } 2>&1 | tail -1)
  read -r wall user sys <<<"$out"
  echo "run $run: ${wall} s wall, $(awk "BEGIN {print $user + $sys}") s CPU, load $(cut -d' ' -f1 /proc/loadavg)"
  [ "$run" -gt 1 ] && times+=("$wall")
done
if [ ${#times[@]} -gt 0 ]; then
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; print "median of runs 2–" NR+1 ": " m " s" }'
fi
