#!/bin/bash
# run_fixed.sh PEER CORPUS_DIR TRAIN_TSV TEST_TSV OUTDIR
# Runs one shared peer (/work/shared/peers/<PEER>.sh: its peer_setup/peer_train/peer_classify)
# on a given train/test pair. The shared peer script is *sourced*; its line
# `source "$(dirname "$0")/common.sh"` then loads ./common.sh next to this file (a copy of the
# shared common.sh with an extra `fixed` mode), and its final `run_main "$@"` runs that mode.
# PEER: bogofilter spamassassin spamassassin-bayes rspamd crm114 spamprobe sbclassifier
[ $# -eq 5 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
SHARED=${PEERS_DIR:-/work/shared/peers}
peer=$1; shift
[ "$(dirname "$0")/common.sh" -ef "$(dirname "${BASH_SOURCE[0]}")/common.sh" ] || exit 2
case "$peer" in
  spamassassin-bayes) export SA_PROFILE=bayes; script=$SHARED/spamassassin.sh ;;  # = spamassassin-bayes.sh
  *) script=$SHARED/$peer.sh ;;
esac
[ -f "$script" ] || { echo "no peer script $script" >&2; exit 2; }
set -- fixed "$@"
source "$script"
