#!/bin/bash
# evaluate.sh OUTDIR [--with-peers]
# Chaff on the four evaluation settings of issue #2, writing scores files that
# ../shared/peers/metrics.py reads, beside the peers' own when --with-peers runs them too:
#   OUTDIR/sa-split   SpamAssassin, peers' split (peerlib.py split ... 0.5 1)
#   OUTDIR/sa-trec    SpamAssassin, incremental in the peers' shuffled order (seed 1)
#   OUTDIR/cs-trec    csdmc2010, incremental, shuffled (seed 1)
#   OUTDIR/cross      train spamassassin + enron_ham, test csdmc2010 (corpora/peers/cross.sh)
# Then prints one metrics.py table per setting. Env: CORPORA (default ../shared/corpora beside
# the checkout), PEERS_DIR (default ../shared/peers).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd); shift
WITH_PEERS=${1:-}
C=${CORPORA:-$top/../shared/corpora}; C=$(cd "$C" && pwd)
P=${PEERS_DIR:-$top/../shared/peers}; P=$(cd "$P" && pwd)
cd "$top"
cargo build --release -q -p chaff-cli
chaff=$top/target/release/chaff

mkdir -p "$OUT/sa-split" "$OUT/sa-trec" "$OUT/cs-trec" "$OUT/cross"
python3 "$P/peerlib.py" split "$C/spamassassin" 0.5 1 "$OUT/sa-split"
"$chaff" eval --mode split --train "$OUT/sa-split/train.tsv" --test "$OUT/sa-split/test.tsv" \
  --root "$C/spamassassin" --scores-out "$OUT/sa-split/chaff.scores.tsv" | tee "$OUT/sa-split/chaff.log"

python3 "$P/peerlib.py" shuffle "$C/spamassassin/index.tsv" 1 "$OUT/sa-trec.index.tsv"
"$chaff" eval --mode incremental --index "$OUT/sa-trec.index.tsv" --root "$C/spamassassin" \
  --scores-out "$OUT/sa-trec/chaff.scores.tsv" | tee "$OUT/sa-trec/chaff.log"

python3 "$P/peerlib.py" shuffle "$C/csdmc2010/index.tsv" 1 "$OUT/cs-trec.index.tsv"
"$chaff" eval --mode incremental --index "$OUT/cs-trec.index.tsv" --root "$C/csdmc2010" \
  --scores-out "$OUT/cs-trec/chaff.scores.tsv" | tee "$OUT/cs-trec/chaff.log"

# Cross-corpus: the same train/test lists the peers get (paths relative to a folder of links).
CC="$OUT/cross-corpus"; mkdir -p "$CC"
for c in spamassassin enron_ham csdmc2010; do [ -e "$CC/$c" ] || ln -s "$C/$c" "$CC/$c"; done
for c in spamassassin enron_ham; do
  awk -F'\t' -v c="$c" 'BEGIN{OFS="\t"} NF>=2 && $1 !~ /^#/ {print $1, c "/" $2}' "$C/$c/index.tsv"
done >"$OUT/cross/train.unshuffled.tsv"
python3 "$P/peerlib.py" shuffle "$OUT/cross/train.unshuffled.tsv" 1 "$OUT/cross/train.tsv"
awk -F'\t' 'BEGIN{OFS="\t"} NF>=2 && $1 !~ /^#/ {print $1, "csdmc2010/" $2}' "$C/csdmc2010/index.tsv" >"$OUT/cross/test.tsv"
"$chaff" eval --mode split --train "$OUT/cross/train.tsv" --test "$OUT/cross/test.tsv" --root "$CC" \
  --scores-out "$OUT/cross/chaff.scores.tsv" | tee "$OUT/cross/chaff.log"

for d in sa-split sa-trec cs-trec cross; do echo 0.5 >"$OUT/$d/chaff.threshold"; done

if [ "$WITH_PEERS" = "--with-peers" ]; then
  "$P/run_all.sh" "$C/spamassassin" "$OUT/sa-split"
  PEERS_DIR=$P "$top/corpora/peers/trec.sh" "$C/spamassassin" "$OUT/sa-trec"
  PEERS_DIR=$P "$top/corpora/peers/trec.sh" "$C/csdmc2010" "$OUT/cs-trec"
  CORPORA=$C PEERS_DIR=$P CROSS_CORPUS=$CC OUT=$OUT/cross "$top/corpora/peers/cross.sh"
fi
for d in sa-split sa-trec cs-trec cross; do
  echo "## $d"; python3 "$P/metrics.py" --table "$OUT/$d"/*.scores.tsv
done
