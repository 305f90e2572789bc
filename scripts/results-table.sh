#!/usr/bin/env bash
# Train every row of the README's comparison table (3-epoch schedule, seed 1, FER2013Train → FER2013Valid),
# in this order, two runs at a time with one thread each (on 2 cores that is ~1.3x the throughput of one run on two).
# Resumable: a run folder that exists is resumed (a finished run is a no-op). Then evaluates each best/.
#   scripts/results-table.sh [data dir] [runs dir] [row ...]
set -uo pipefail
data=${1:-../shared/data/ferplus}
runs=${2:-runs}
shift 2 2>/dev/null || shift $#
rows=("$@")
if [ ${#rows[@]} -eq 0 ]; then
  rows=(poi:0.3 ce:0.3 poi-no-prior configs/poi-vgg-1222.json configs/ce-vgg-1222.json poi-no-mutual ld poi-no-uncertainty ce:0.1 ce:0.2 poi:0.1 poi:0.2 poi ce)
fi
mkdir -p "$runs"
train_row() {
  local row=$1 preset=${1%%:*} noise= name
  [[ $row == *:* ]] && noise=${row#*:}
  # a row is a preset or a config file (configs/x.json → run name x), with an optional :noise rate
  name="ferplus-e3-$(basename "$preset" .json)${noise:+-n${noise#0.}0}"
  local resume=()
  [ -f "$runs/$name/config.json" ] && resume=(--resume)
  POI_THREADS=1 node bin/poi.js train --config "$preset" --data "$data" --out "$runs/$name" --epochs 3 --seed 1 \
    ${noise:+--noise $noise} "${resume[@]}" --quiet > "$runs/$name.log" 2>&1 \
    && node bin/poi.js eval --model "$runs/$name/best" --data "$data" > "$runs/$name/eval-valid.txt" 2>&1 \
    && echo "done $name" || echo "FAILED $name (see $runs/$name.log)"
}
for row in "${rows[@]}"; do
  while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
  train_row "$row" &
done
wait
