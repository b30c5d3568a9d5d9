#!/bin/bash
# trec.sh CORPUS_DIR OUTDIR [peer ...]
# Incremental (TREC) run of the shared peer scripts in a seeded shuffled order (seed 1):
#   peerlib.py shuffle CORPUS/index.tsv 1 OUTDIR.index.tsv
#   TREC_INDEX=OUTDIR.index.tsv <peer>.sh trec CORPUS OUTDIR      (one peer after the other)
# Env: PEERS_DIR (default /work/shared/peers), SEED (1), TREC_TIMEOUT (seconds per peer, 0 = none;
# a peer that hits it is killed -- its EXIT trap stops its daemons -- and reported as skipped).
# rspamd/spamassassin ports can be moved with RSPAMD_PORT/REDIS_PORT/DNS_PORT/SPAMD_PORT.
set -u
P=${PEERS_DIR:-/work/shared/peers}
C=$(cd "$1" && pwd); mkdir -p "$2"; O=$(cd "$2" && pwd); shift 2
PEERS=${*:-bogofilter crm114 spamprobe sbclassifier}
IDX="$O.index.tsv"
[ -s "$IDX" ] || python3 "$P/peerlib.py" shuffle "$C/index.tsv" "${SEED:-1}" "$IDX"
for p in $PEERS; do
  echo "=== $p $(date +%T)"
  if [ "${TREC_TIMEOUT:-0}" -gt 0 ]; then
    TREC_INDEX="$IDX" timeout "$TREC_TIMEOUT" "$P/$p.sh" trec "$C" "$O" >"$O/$p.log" 2>&1
  else
    TREC_INDEX="$IDX" "$P/$p.sh" trec "$C" "$O" >"$O/$p.log" 2>&1
  fi
  rc=$?; echo "=== $p rc=$rc $(date +%T)"; [ $rc -eq 124 ] && echo "=== $p SKIPPED: timeout ${TREC_TIMEOUT}s"
done
