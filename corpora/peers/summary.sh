#!/bin/bash
# summary.sh [RESULTS_DIR]: metrics tables + timing lines of every run dir -> stdout (markdown)
R=${1:-/work/peer-results}; M=${PEERS_DIR:-/work/shared/peers}/metrics.py
for run in sa-split sa-trec cs-trec cross; do
  d=$R/$run; ls "$d"/*.scores.tsv >/dev/null 2>&1 || continue
  echo "## $run"; echo
  echo '```'; echo "python3 $M --table $d/*.scores.tsv"; echo '```'; echo
  python3 "$M" --table "$d"/*.scores.tsv; echo
  echo "Timing (wall clock; msgs/s):"; echo; echo '```'
  for t in "$d"/*.timing; do
    printf '%-20s %s\n' "$(basename "$t" .timing)" "$(grep -E '^(n_train|n_test|n|train_wall_s|train_msgs_per_s|classify_wall_s|classify_msgs_per_s|trec_wall_s|trec_msgs_per_s)=' "$t" | tr '\n' ' ')"
  done
  echo '```'; echo
done
