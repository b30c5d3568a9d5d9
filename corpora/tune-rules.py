#!/usr/bin/env python3
"""Tune rule weights on `chaff eval --rule-hits-out` files (see crates/chaff-core/src/rules/mod.rs).

Each hits file has one line per scored message: path, truth (spam/ham), z without rules, and the
ids of the rules that fired. The score with weights w is sigma((z + sum w) / 2), or 1.0 / 0.0
for a rule with a verdict, exactly as the engine computes it, so (1-ROCA)% here is the CLI's.

    corpora/tune-rules.py --tune A.tsv --tune B.tsv [--guard C.tsv] [--check D.tsv]
                          [--rules default.toml] [--grid -3,-2,...] [--sweeps 3]
                          [--bound ID=LO:HI ...] [--stats]

Coordinate search: for each rule in turn, try every grid weight (and its current one); keep the
weight with the lowest sum of relative (1-ROCA)% (each run divided by its figure without rules)
over the --tune files, plus a penalty of 100 per unit of relative loss on any --tune or --guard
file that ends up worse than the Bayes score alone (so the search first makes every run at least
as good as without rules, then improves the tuning runs). Guard files constrain but are not
minimised; --check files are only reported.
Rules firing on fewer than --min-fires tuning messages keep their weight. Prints the figures and
the chosen weights; it changes no file.
"""

import argparse
import math
import re
import sys
from collections import defaultdict


def read_hits(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            ids = [i for i in (parts[3].split(",") if len(parts) > 3 else []) if i]
            rows.append((parts[1] == "spam", float(parts[2]), ids))
    return rows


def read_rules(path):
    """id -> (weight, verdict) from a rules TOML (only the keys this script needs)."""
    rules, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line == "[[rule]]":
                cur = {}
                continue
            m = re.match(r'^(id|weight|verdict)\s*=\s*"?([^"#]*)"?', line)
            if cur is not None and m:
                cur[m.group(1)] = m.group(2).strip()
                if "id" in cur and "weight" in cur:
                    rules[cur["id"]] = [float(cur["weight"]), cur.get("verdict")]
            if cur is not None and m and m.group(1) == "verdict" and "id" in cur:
                rules[cur["id"]][1] = cur["verdict"]
    return rules


def score(z, ids, weights, verdicts):
    forced = [verdicts.get(i) for i in ids if verdicts.get(i) in ("spam", "ham")]
    if "spam" in forced:
        return 1.0
    if forced:
        return 0.0
    x = (z + sum(weights.get(i, 0.0) for i in ids)) / 2.0
    try:
        s = 1.0 / (1.0 + math.exp(-x))
    except OverflowError:
        s = 0.0
    return min(max(s, 0.0), 1.0)


def one_minus_roca(rows, weights, verdicts):
    """100 * (1 - AUC), Mann-Whitney with mid-ranks, as chaff_core::metrics::auc."""
    scored = sorted((score(z, ids, weights, verdicts), spam) for spam, z, ids in rows)
    ns = sum(1 for _, s in scored if s)
    nh = len(scored) - ns
    rank_sum, i = 0.0, 0
    while i < len(scored):
        j = i
        while j + 1 < len(scored) and scored[j + 1][0] == scored[i][0]:
            j += 1
        mid = (i + j) / 2.0 + 1.0
        rank_sum += mid * sum(1 for k in range(i, j + 1) if scored[k][1])
        i = j + 1
    auc = (rank_sum - ns * (ns + 1) / 2.0) / (ns * nh)
    return 100.0 * (1.0 - auc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tune", action="append", default=[], help="hits file tuned on (repeatable)")
    ap.add_argument("--guard", action="append", default=[], help="hits file that must not get worse")
    ap.add_argument("--check", action="append", default=[], help="hits file only reported")
    ap.add_argument("--rules", default="crates/chaff-core/rules/default.toml")
    ap.add_argument("--grid", default="-3,-2,-1.5,-1,-0.7,-0.5,-0.3,-0.2,-0.1,0.1,0.2,0.3,0.5,0.7,1,1.5,2,3")
    ap.add_argument("--sweeps", type=int, default=3)
    ap.add_argument("--min-fires", type=int, default=10)
    ap.add_argument("--bound", action="append", default=[], help="ID=LO:HI keeps a weight in range")
    ap.add_argument("--stats", action="store_true", help="print how often each rule fires")
    args = ap.parse_args()

    rules = read_rules(args.rules)
    weights = {k: v[0] for k, v in rules.items()}
    verdicts = {k: v[1] for k, v in rules.items() if v[1]}
    bounds = {}
    for b in args.bound:
        rid, rng = b.split("=")
        lo, hi = rng.split(":")
        bounds[rid] = (float(lo), float(hi))
    grid = [float(g) for g in args.grid.split(",")]
    runs = {p: read_hits(p) for p in args.tune + args.guard + args.check}

    if args.stats:
        print("rule\t" + "\t".join(f"{p.split('/')[-1]} spam/ham" for p in runs))
        fires = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for p, rows in runs.items():
            for spam, _, ids in rows:
                for i in ids:
                    fires[i][p][0 if spam else 1] += 1
        for rid in rules:
            print(rid + "\t" + "\t".join(f"{fires[rid][p][0]}/{fires[rid][p][1]}" for p in runs))

    base = {p: one_minus_roca(rows, {}, {}) for p, rows in runs.items()}

    def figures(w):
        return {p: one_minus_roca(rows, w, verdicts) for p, rows in runs.items()}

    def report(title, w):
        f = figures(w)
        print(f"{title}: " + "  ".join(
            f"{p.split('/')[-1]}={f[p]:.4f}{'*' if p in args.tune else '+' if p in args.guard else ''}"
            for p in runs))
        return f

    print("no rules: " + "  ".join(f"{p.split('/')[-1]}={base[p]:.4f}" for p in runs))
    report("start", weights)
    tune_fires = defaultdict(int)
    for p in args.tune:
        for _, _, ids in runs[p]:
            for i in ids:
                tune_fires[i] += 1

    def objective(w):
        total = 0.0
        for p in args.tune + args.guard:
            rel = one_minus_roca(runs[p], w, verdicts) / base[p]  # no run dominates by scale
            if p in args.tune:
                total += rel
            total += 100.0 * max(0.0, rel - 1.0 - 1e-12)
        return total

    for sweep in range(args.sweeps):
        changed = False
        for rid in rules:
            if rid in verdicts or tune_fires[rid] < args.min_fires:
                continue
            lo, hi = bounds.get(rid, (-math.inf, math.inf))
            best_w, best = weights[rid], objective(weights)
            for g in grid:
                if not lo <= g <= hi or g == weights[rid]:
                    continue
                val = objective(dict(weights, **{rid: g}))
                if val < best - 1e-9:
                    best_w, best = g, val
            if best_w != weights[rid]:
                print(f"sweep {sweep + 1}: {rid} {weights[rid]} -> {best_w} (objective {best:.4f})")
                weights[rid] = best_w
                changed = True
        if not changed:
            break
    report("tuned", weights)
    for rid in rules:
        if weights[rid] != rules[rid][0]:
            print(f"  {rid}: {rules[rid][0]} -> {weights[rid]}")


if __name__ == "__main__":
    sys.exit(main())
