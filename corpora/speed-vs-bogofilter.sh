#!/bin/bash
# speed-vs-bogofilter.sh [RUNS]
# Times `chaff classify --index` against bogofilter's bulk mode (-b) on the same 3,023 test
# messages of the SpamAssassin split (peerlib.py split 0.5 1), each trained on the same train half.
# Both read the files from the page cache (one untimed warm-up run each). Needs bogofilter.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
C=${CORPORA:-$top/../shared/corpora}; C=$(cd "$C" && pwd)
P=${PEERS_DIR:-$top/../shared/peers}
RUNS=${1:-5}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
cd "$top"; cargo build --release -q -p chaff-cli
chaff=$top/target/release/chaff
python3 "$P/peerlib.py" split "$C/spamassassin" 0.5 1 "$W" 2>/dev/null
"$chaff" train --out "$W/m.chaffmodel" --index "$W/train.tsv" --root "$C/spamassassin" 2>/dev/null
mkdir -p "$W/bogo"
python3 "$P/peerlib.py" paths "$C/spamassassin" "$W/train.tsv" spam | bogofilter -C -d "$W/bogo" -s -b
python3 "$P/peerlib.py" paths "$C/spamassassin" "$W/train.tsv" ham | bogofilter -C -d "$W/bogo" -n -b
python3 "$P/peerlib.py" paths "$C/spamassassin" "$W/test.tsv" >"$W/test.paths"
best() { sort -g | head -1; }
# wall and CPU (user + sys) seconds of one run of a command, to the millisecond (bash's `time`;
# GNU time's 10 ms steps were a tenth of chaff's run)
t() {
  local TIMEFORMAT='%3R %3U %3S'
  { time "$@" >/dev/null 2>&1; } 2>"$W/time.out"
  awk '{print $1, $2 + $3}' "$W/time.out"
}
# warm-up (page cache), untimed
"$chaff" classify --model "$W/m.chaffmodel" --index "$W/test.tsv" --root "$C/spamassassin" >/dev/null
bogofilter -C -d "$W/bogo" -t -b <"$W/test.paths" >/dev/null || true
for _ in $(seq "$RUNS"); do
  t "$chaff" classify --model "$W/m.chaffmodel" --index "$W/test.tsv" --root "$C/spamassassin" >>"$W/chaff.t"
  t sh -c "bogofilter -C -d '$W/bogo' -t -b <'$W/test.paths' || true" >>"$W/bogo.t"
done
cw=$(cut -d' ' -f1 "$W/chaff.t" | best); cc=$(cut -d' ' -f2 "$W/chaff.t" | best)
bw=$(cut -d' ' -f1 "$W/bogo.t" | best); bc_=$(cut -d' ' -f2 "$W/bogo.t" | best)
echo "messages: $(wc -l <"$W/test.paths"); best of $RUNS runs; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "chaff classify --index: wall $cw s, cpu $cc s"
echo "bogofilter -t -b:       wall $bw s, cpu $bc_ s"
echo "speed-up: wall $(echo "scale=2; $bw / $cw" | bc)x, cpu $(echo "scale=2; $bc_ / $cc" | bc)x"
