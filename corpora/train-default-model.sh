#!/bin/bash
# Trains the embedded default model from the shared corpora, reproducibly.
#   corpora/train-default-model.sh [CORPORA_DIR]    (default: ../shared/corpora beside the checkout)
# Writes crates/chaff-core/model/default.chaffmodel; rebuild afterwards to embed it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
C=${1:-$top/../shared/corpora}
[ -d "$C/spamassassin" ] || { echo "corpora not found at $C" >&2; exit 2; }
cd "$top"
cargo build --release -p chaff-cli
./target/release/chaff train --out crates/chaff-core/model/default.chaffmodel \
  --index "$C/spamassassin/index.tsv" --index "$C/csdmc2010/index.tsv" \
  --index "$C/enron_ham/index.tsv" --index "$C/markup_newsletters/index.tsv" \
  --shuffle 1 --max-tokens 180000
./target/release/chaff model info crates/chaff-core/model/default.chaffmodel
