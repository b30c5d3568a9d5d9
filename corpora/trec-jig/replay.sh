#!/bin/bash
# replay.sh INDEX CORPUS_DIR RESULTS [N]
# Drives the filter commands in this folder (initialize, classify, train, finalize) exactly as the
# TREC spam track toolkit's run.sh does, over the first N (default all) lines of INDEX
# (`judgement path` or `label<TAB>path`, paths relative to CORPUS_DIR), and writes the toolkit's
# raw result lines (`file=... judge=... class=... score=...`) to RESULTS. Prints the wall time
# per message. Env: CHAFF (chaff binary), CHAFF_TREC_DIR (state), CHAFF_TREC_COMPACT_EVERY.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
index=$1 corpus=$2 results=$3 n=${4:-0}
: >"$results"
"$here/initialize"
t0=$(date +%s.%N); count=0
while read -r judge file; do
  [ -n "$judge" ] || continue
  f="$corpus/$file"
  out=$("$here/classify" "$f") || out="class=ham score=0 tfile=*"   # the toolkit's rule on a crash
  read -r class score tfile <<<"$out"
  "$here/train" "$judge" "$f" "${class#class=}" "${tfile#tfile=}" || true
  echo "file=$file judge=$judge ${class} ${score}" >>"$results"
  count=$((count+1)); [ "$n" -gt 0 ] && [ "$count" -ge "$n" ] && break
done <"$index"
"$here/finalize"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$count" 'BEGIN{printf "%d messages in %.2f s: %.2f ms per message (classify + train)\n", n, b-a, 1000*(b-a)/n}'
