#!/usr/bin/env python3
"""Does the choice of task groups matter, and do affinity-chosen groups pick well?

    python3 docs/grouping/study.py CONFIG K [--seeds 3] [--method ew] [--random 20] [--out DIR]

For a config with T ≤ 6 tasks and one generated dataset (data.synthetic.seed pinned to 1), it
trains with `mtl compare --seeds N --methods METHOD` (default equal weighting; seeds 1..N;
the affinity groups are measured under the config's own weighting whatever METHOD is):

- all tasks together, and single-task networks (the Δm baseline);
- the groups `mtl affinity --groups K --by KIND` chooses, for each affinity kind;
- `--random` random partitions with the sizes of the default affinity's groups;
- every partition into K groups (Standley et al., ICML 2020: the ground truth that
  affinities approximate).

and prints a markdown table of Δm (%, lower is better; mean over seeds) with where each
choice ranks among all partitions, plus the wall time of choosing by affinity (its measuring
runs, then training the chosen groups once) against training every candidate partition.
Needs a release build (target/release/mtl).
"""

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

MTL = "target/release/mtl"
# The affinity kinds compared; the first is `mtl affinity`'s default.
KINDS = ["output_similarity", "representation_cosine", "parameter_cosine", "lookahead"]


def run(args):
    out = subprocess.run([MTL, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"mtl {' '.join(args)} failed:\n{out.stderr}")
    return out


def partitions(items, k):
    """Every partition of `items` into k non-empty groups (restricted-growth order)."""
    def grow(i, groups):
        if i == len(items):
            if len(groups) == k:
                yield [list(g) for g in groups]
            return
        for g in groups:
            g.append(items[i])
            yield from grow(i + 1, groups)
            g.pop()
        if len(groups) < k:
            groups.append([items[i]])
            yield from grow(i + 1, groups)
            groups.pop()
    yield from grow(0, [])


def key(groups):
    return tuple(sorted(tuple(sorted(g)) for g in groups))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("k", type=int)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--method", default="ew", help="the weighting method every grouping trains with")
    p.add_argument("--random", type=int, default=20)
    p.add_argument("--out", default="runs/grouping-study")
    a = p.parse_args()
    out = Path(a.out)
    common = ["--quiet", "--set", "data.synthetic.seed=1"]
    cache = {}

    def compare(groups):
        """Mean Δm over seeds of training `groups` (None: all together), and its wall time."""
        k = key(groups) if groups else None
        if k in cache:
            return cache[k]
        spec = ";".join(",".join(g) for g in groups) if groups else None
        name = f"cmp{len(cache)}"
        args = ["compare", a.config, "--seeds", str(a.seeds), "--methods", a.method, *common, "--set", f'run.output_dir="{out / name}"']
        if spec:
            args += ["--groups", spec]
        started = time.time()
        run(args)
        wall = time.time() - started
        table = next((out / name).glob("compare-*/results.csv"))
        rows = list(csv.DictReader(open(table)))
        method = f"{a.method} grouped" if spec else a.method
        dm = [float(r["delta_m"]) for r in rows if r["method"] == method]
        cache[k] = (statistics.mean(dm), statistics.stdev(dm) if len(dm) > 1 else 0.0, wall)
        return cache[k]

    # Affinity groups by each kind (the task names come from their reports), and their cost.
    tasks = None
    chosen, cost = {}, {}
    for kind in KINDS:
        started = time.time()
        run(["affinity", a.config, "--groups", str(a.k), "--by", kind, "--overwrite", *common,
             "--set", f'run.output_dir="{out / ("affinity-" + kind)}"'])
        cost[kind] = time.time() - started
        report = json.load(open(next((out / ("affinity-" + kind)).glob("*-affinity/groups.json"))))
        chosen[kind] = (report["groups"], report["stability"]["share"])
        tasks = sorted(t for g in report["groups"] for t in g)
    together = compare(None)
    every = {key(g): g for g in partitions(tasks, a.k)}
    started = time.time()
    scores = {kk: compare(g) for kk, g in every.items()}
    exhaustive_wall = time.time() - started
    ranked = sorted(scores, key=lambda kk: scores[kk][0])
    rank = lambda g: ranked.index(key(g)) + 1
    sizes = sorted(len(g) for g in chosen[KINDS[0]][0])
    rng = random.Random(0)
    draws = []
    for _ in range(a.random):
        shuffled = tasks[:]
        rng.shuffle(shuffled)
        groups, i = [], 0
        for s in sizes:
            groups.append(shuffled[i:i + s])
            i += s
        draws.append(scores[key(groups)][0])

    fmt = lambda g: " ".join("{" + ",".join(x) + "}" for x in g)
    print(f"`{a.config}`, K = {a.k}, {a.seeds} seeds, {len(every)} partitions, method {a.method}\n")
    print("| grouping | Δm % ↓ (mean ± std over seeds) | rank of the partition |")
    print("|---|---:|---:|")
    print(f"| all tasks together | {together[0]:.1f} ± {together[1]:.1f} | — |")
    for kind, (g, share) in chosen.items():
        m, s, _ = scores[key(g)]
        print(f"| affinity, `--by {kind}`: {fmt(g)} (stability {share:.0%}) | {m:.1f} ± {s:.1f} | {rank(g)} of {len(every)} |")
    print(f"| random partitions of sizes {sizes} ({a.random} draws) | {statistics.mean(draws):.1f} (median {statistics.median(draws):.1f}) | — |")
    best = every[ranked[0]]
    print(f"| best partition (exhaustive): {fmt(best)} | {scores[ranked[0]][0]:.1f} ± {scores[ranked[0]][1]:.1f} | 1 of {len(every)} |")
    print(f"| worst partition: {fmt(every[ranked[-1]])} | {scores[ranked[-1]][0]:.1f} | {len(every)} of {len(every)} |")
    measure = cost[KINDS[0]]
    final = scores[key(chosen[KINDS[0]][0])][2]
    print(f"\nChoosing by affinity (the measuring runs of the default `--by {KINDS[0]}`): {measure:.1f} s, "
          f"then training the chosen groups: {final:.1f} s; training every partition: {exhaustive_wall:.1f} s "
          f"({exhaustive_wall / measure:.0f}× the measuring, {exhaustive_wall / (measure + final):.0f}× both).")


if __name__ == "__main__":
    main()
