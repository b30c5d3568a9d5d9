#!/bin/bash
# cross.sh [peer ...]
# Cross-corpus evaluation: train on ALL of spamassassin + ALL of enron_ham, test on ALL of csdmc2010.
#  1. CROSS_CORPUS (default /work/peer-results/cross-corpus) = symlinks
#     {spamassassin,enron_ham,csdmc2010} -> $CORPORA/<name> (default CORPORA=/work/shared/corpora)
#  2. OUT/train.tsv = spamassassin + enron_ham index entries (paths prefixed with the folder),
#     shuffled with `peerlib.py shuffle ... 1` (seed SEED=1) so ham/spam are interleaved;
#     OUT/test.tsv = csdmc2010/index.tsv in index order, prefixed. (OUT default /work/peer-results/cross)
#     Existing train/test files are kept (and must equal a fresh build), so runs can share them.
#  3. for each peer: run_fixed.sh PEER CROSS_CORPUS OUT/train.tsv OUT/test.tsv OUT  (log: OUT/PEER.log)
# Default peers: bogofilter spamassassin-bayes spamassassin rspamd crm114 spamprobe sbclassifier
# Env knobs of the shared peer scripts (MIN_LEARNS, SA_PAR, SPAMD_PORT, RSPAMD_PORT, ...) pass through.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CORPORA=${CORPORA:-/work/shared/corpora}
CC=${CROSS_CORPUS:-/work/peer-results/cross-corpus}
OUT=${OUT:-/work/peer-results/cross}
SEED=${SEED:-1}
PEERS=${*:-bogofilter spamassassin-bayes spamassassin rspamd crm114 spamprobe sbclassifier}
mkdir -p "$CC" "$OUT"
for c in spamassassin enron_ham csdmc2010; do
  [ -e "$CC/$c" ] || ln -s "$CORPORA/$c" "$CC/$c"
done
tmp=$(mktemp -d)
for c in spamassassin enron_ham; do
  awk -F'\t' -v c="$c" 'BEGIN{OFS="\t"} NF>=2 && $1 !~ /^#/ {print $1, c "/" $2}' "$CORPORA/$c/index.tsv"
done >"$tmp/train.unshuffled.tsv"
python3 "${PEERS_DIR:-/work/shared/peers}/peerlib.py" shuffle "$tmp/train.unshuffled.tsv" "$SEED" "$tmp/train.tsv"
awk -F'\t' 'BEGIN{OFS="\t"} NF>=2 && $1 !~ /^#/ {print $1, "csdmc2010/" $2}' "$CORPORA/csdmc2010/index.tsv" >"$tmp/test.tsv"
for f in train.tsv test.tsv; do
  if [ -f "$OUT/$f" ]; then   # never rewrite in place: another cross.sh may be reading it
    cmp -s "$tmp/$f" "$OUT/$f" || { echo "$OUT/$f differs from a fresh build; not overwriting" >&2; exit 1; }
  else cp "$tmp/$f" "$OUT/.$f.tmp" && mv "$OUT/.$f.tmp" "$OUT/$f"; fi
done
rm -rf "$tmp"
echo "train: $(wc -l <"$OUT/train.tsv") ($(cut -f1 "$OUT/train.tsv" | sort | uniq -c | xargs)); test: $(wc -l <"$OUT/test.tsv") ($(cut -f1 "$OUT/test.tsv" | sort | uniq -c | xargs))"
for p in $PEERS; do
  echo "=== $p $(date +%T)"
  "$HERE/run_fixed.sh" "$p" "$CC" "$OUT/train.tsv" "$OUT/test.tsv" "$OUT" >"$OUT/$p.log" 2>&1
  echo "=== $p rc=$? $(date +%T)"
done
