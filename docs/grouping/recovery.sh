#!/usr/bin/env bash
# How often `mtl affinity --groups K` returns the planted groups, over seeds 1..10 (the seed
# picks the generated data and the first measuring seed), and what its stability said.
#
#   docs/grouping/recovery.sh CONFIG K PLANTED [mtl affinity flags…]
#   docs/grouping/recovery.sh configs/affinity-demo.toml 2 'y1,y2,y3;y4,y5,y6'
#
# Prints one markdown row: recovered of 10, and the stable/unstable split of the right and
# the wrong answers (stable = share of agreeing resamples ≥ 0.8). Needs a release build.
set -euo pipefail
cfg=$1; k=$2; planted=$3; shift 3
mtl=${MTL:-target/release/mtl}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for seed in $(seq 1 10); do
  "$mtl" affinity "$cfg" --groups "$k" --quiet --overwrite --set run.seed="$seed" \
    --set "run.output_dir=\"$out\"" "$@" >/dev/null 2>&1
  groups=$(ls -d "$out"/*-affinity)/groups.json
  python3 - "$groups" "$planted" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
planted = sorted(sorted(x.split(",")) for x in sys.argv[2].split(";"))
right = sorted(sorted(x) for x in g["groups"]) == planted
print("right" if right else "wrong", g["stability"]["share"], " | ".join(",".join(x) for x in g["groups"]))
PY
done > "$out/rows.txt"
python3 - "$out/rows.txt" "$*" <<'PY'
import sys
rows = [l.split(" ", 2) for l in open(sys.argv[1]).read().splitlines()]
right = [float(s) for r, s, _ in rows if r == "right"]
wrong = [float(s) for r, s, _ in rows if r == "wrong"]
stable = lambda v: sum(x >= 0.8 for x in v)
flags = sys.argv[2] or "(defaults)"
print(f"| `{flags}` | {len(right)}/10 | {stable(right)} of {len(right)} | {len(wrong) - stable(wrong)} of {len(wrong)} |")
PY
