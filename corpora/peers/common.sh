# common.sh -- MODIFIED COPY of /work/shared/peers/common.sh for the Chaff project.
# Only change: an extra mode `fixed CORPUS_DIR TRAIN_TSV TEST_TSV OUTDIR` (the split branch,
# but with a given train/test pair instead of `peerlib.py split`), and PEERS_DIR pointing at
# the shared peer scripts. Used by run_fixed.sh, which sources a shared <peer>.sh so that its
# `source "$(dirname "$0")/common.sh"` picks up this file.
#
# (original header:) sourced by every <peer>.sh. Provides argument parsing, the shared
# deterministic split (peerlib.py), timing, daemon bookkeeping and metrics.
#
# A peer script defines PEER, THRESHOLD (natural threshold of its score) and:
#   peer_setup               create $WORK (fresh) state, start daemons (use start_daemon)
#   peer_train  TRAIN_TSV    train on all messages of TRAIN_TSV
#   peer_classify TEST_TSV OUT_SCORES   write "<relpath>\t<truth>\t<score>" per message
#   peer_trec INDEX_TSV OUT_SCORES      classify-then-train-on-truth, in order
# and then calls: run_main "$@"
# Optional hooks: peer_extra_timing (prints extra key=value lines for the timing file)
set -euo pipefail
PEERS_DIR=${PEERS_DIR:-/work/shared/peers}   # shared helpers (peerlib.py, sb/, sa/, rspamd/)
PY=${PY:-/usr/bin/python3}
DAEMON_PIDS=()

now() { date +%s.%N; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }
log() { echo "[$PEER $(date +%T)] $*" >&2; }
absdir() { (cd "$1" && pwd); }
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

# start_daemon NAME LOGFILE cmd args...   (runs in background, remembers PID)
start_daemon() {
  local name=$1 logf=$2; shift 2
  "$@" >"$logf" 2>&1 &
  local pid=$!
  DAEMON_PIDS+=("$pid")
  echo "$pid" >"$WORK/$name.pid"
  log "started $name pid=$pid"
}
stop_daemons() {
  local pid
  for pid in "${DAEMON_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      log "stopped pid=$pid"
    fi
  done
  DAEMON_PIDS=()
}
peer_cleanup() { :; }
peer_post_classify() { :; }
_on_exit() { peer_cleanup || true; stop_daemons; }
trap _on_exit EXIT
trap 'exit 130' INT TERM

# wait_port HOST PORT [TIMEOUT_S]
wait_port() {
  local t=${3:-60} i
  for i in $(seq 1 $((t*10))); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timeout waiting for $1:$2" >&2; return 1
}

tsv_paths() { "$PY" "$PEERS_DIR/peerlib.py" paths "$CORPUS" "$@"; }

usage() {
  cat >&2 <<USAGE
usage: $(basename "$0") split CORPUS_DIR TRAIN_FRACTION SEED OUTDIR
       $(basename "$0") trec  CORPUS_DIR OUTDIR
       $(basename "$0") fixed CORPUS_DIR TRAIN_TSV TEST_TSV OUTDIR   (paths in the TSVs relative to CORPUS_DIR)
Outputs: OUTDIR/$PEER.scores.tsv (relpath, truth, score; higher = spammier),
         OUTDIR/$PEER.timing, OUTDIR/$PEER.threshold, OUTDIR/$PEER.metrics
USAGE
  exit 2
}

run_main() {
  [ $# -ge 1 ] || usage
  MODE=$1
  case "$MODE" in
    split)
      [ $# -eq 5 ] || usage
      CORPUS=$(absdir "$2"); FRAC=$3; SEED=$4; mkdir -p "$5"; OUTDIR=$(absdir "$5")
      "$PY" "$PEERS_DIR/peerlib.py" split "$CORPUS" "$FRAC" "$SEED" "$OUTDIR"
      WORK="$OUTDIR/work/$PEER"; rm -rf "$WORK"; mkdir -p "$WORK"
      peer_setup
      local n_tr n_te t0 t1 t2
      n_tr=$(wc -l <"$OUTDIR/train.tsv"); n_te=$(wc -l <"$OUTDIR/test.tsv")
      log "training on $n_tr messages"
      t0=$(now); peer_train "$OUTDIR/train.tsv"; t1=$(now)
      log "classifying $n_te messages"
      peer_classify "$OUTDIR/test.tsv" "$OUTDIR/$PEER.scores.tsv.tmp"; t2=$(now)
      mv "$OUTDIR/$PEER.scores.tsv.tmp" "$OUTDIR/$PEER.scores.tsv"
      peer_post_classify "$OUTDIR/test.tsv"   # untimed hook (extra benchmarks)
      "$PY" "$PEERS_DIR/peerlib.py" timing "$OUTDIR/$PEER.timing" "$PEER" \
        "$(delta "$t0" "$t1")" "$(delta "$t1" "$t2")" "$n_tr" "$n_te" mode=split \
        corpus="$CORPUS" seed="$SEED" train_fraction="$FRAC" $(peer_extra_timing)
      ;;
    fixed)
      [ $# -eq 5 ] || usage
      CORPUS=$(absdir "$2"); TRAIN_TSV=$(abspath "$3"); TEST_TSV=$(abspath "$4")
      mkdir -p "$5"; OUTDIR=$(absdir "$5")
      WORK="$OUTDIR/work/$PEER"; rm -rf "$WORK"; mkdir -p "$WORK"
      peer_setup
      local n_tr n_te t0 t1 t2
      n_tr=$(wc -l <"$TRAIN_TSV"); n_te=$(wc -l <"$TEST_TSV")
      log "training on $n_tr messages ($TRAIN_TSV)"
      t0=$(now); peer_train "$TRAIN_TSV"; t1=$(now)
      log "classifying $n_te messages ($TEST_TSV)"
      peer_classify "$TEST_TSV" "$OUTDIR/$PEER.scores.tsv.tmp"; t2=$(now)
      mv "$OUTDIR/$PEER.scores.tsv.tmp" "$OUTDIR/$PEER.scores.tsv"
      peer_post_classify "$TEST_TSV"   # untimed hook (extra benchmarks)
      "$PY" "$PEERS_DIR/peerlib.py" timing "$OUTDIR/$PEER.timing" "$PEER" \
        "$(delta "$t0" "$t1")" "$(delta "$t1" "$t2")" "$n_tr" "$n_te" mode=fixed \
        corpus="$CORPUS" train_tsv="$TRAIN_TSV" test_tsv="$TEST_TSV" $(peer_extra_timing)
      ;;
    trec)
      [ $# -eq 3 ] || usage
      CORPUS=$(absdir "$2"); mkdir -p "$3"; OUTDIR=$(absdir "$3")
      WORK="$OUTDIR/work/$PEER"; rm -rf "$WORK"; mkdir -p "$WORK"
      peer_setup
      local n t0 t1
      # TREC_INDEX: optional alternative index (same format, paths relative to CORPUS_DIR),
      # e.g. from `peerlib.py shuffle CORPUS/index.tsv SEED OUT` when index.tsv is grouped by class.
      local index=${TREC_INDEX:-$CORPUS/index.tsv}
      n=$(grep -c . "$index")
      log "TREC incremental run over $n messages ($index)"
      t0=$(now); peer_trec "$index" "$OUTDIR/$PEER.scores.tsv.tmp"; t1=$(now)
      mv "$OUTDIR/$PEER.scores.tsv.tmp" "$OUTDIR/$PEER.scores.tsv"
      awk -v p="$PEER" -v n="$n" -v s="$(delta "$t0" "$t1")" -v c="$CORPUS" 'BEGIN{
        printf "peer=%s\nmode=trec\nindex='"$index"'\ncorpus=%s\nn=%d\ntrec_wall_s=%.3f\ntrec_msgs_per_s=%.2f\n", p, c, n, s, (s>0? n/s:0)}' \
        >"$OUTDIR/$PEER.timing"
      peer_extra_timing | tr ' ' '\n' | grep . >>"$OUTDIR/$PEER.timing" || true
      ;;
    *) usage ;;
  esac
  echo "$THRESHOLD" >"$OUTDIR/$PEER.threshold"
  stop_daemons
  "$PY" "$PEERS_DIR/metrics.py" "$OUTDIR/$PEER.scores.tsv" | tee "$OUTDIR/$PEER.metrics" >&2
  cat "$OUTDIR/$PEER.timing" >&2
}
peer_extra_timing() { :; }
