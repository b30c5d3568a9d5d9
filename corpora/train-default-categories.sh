#!/bin/bash
# Trains the embedded default category model from the shared corpora, reproducibly.
#   corpora/train-default-categories.sh [CORPORA_DIR]    (default: ../shared/corpora beside the checkout)
# Writes crates/chaff-core/model/default.categories; rebuild afterwards to embed it.
# Training data: the 652 hand-labelled ham of categories/index.tsv, plus the 224 markup
# newsletters labelled `newsletter` whatever their Gmail tab. Then prints the cross-validation
# table of the same data (5 folds, fixed seed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
C=${1:-$top/../shared/corpora}
[ -f "$C/categories/index.tsv" ] || { echo "corpora not found at $C" >&2; exit 2; }
cd "$top"
cargo build --release -p chaff-cli
./target/release/chaff train-categories --out crates/chaff-core/model/default.categories \
  --index "$C/categories/index.tsv" --index-as "newsletter=$C/markup_newsletters/index.tsv"
./target/release/chaff eval --mode categories \
  --index "$C/categories/index.tsv" --index-as "newsletter=$C/markup_newsletters/index.tsv" --folds 5
