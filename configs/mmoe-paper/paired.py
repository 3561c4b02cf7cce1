#!/usr/bin/env python3
"""Paired summary of an `mtl compare` grid over data.synthetic.correlation (standard library only).

A seed fixes the generated data (directions, sine constants, inputs, noise) and the
initialisation, so runs with the same seed differ only by p and the architecture. Comparing
within a seed removes the seed-to-seed spread of the task difficulty, which in this generator
is larger than the effects studied. Prints, per architecture and p (loss = mean test MSE of
the tasks):

1. mean ± sample std of the loss over seeds (what `table.md` shows per task);
2. loss(p) / loss(p = 1) within each seed, mean ± std: how much the model suffers as the
   tasks drift apart;
3. loss / the best architecture's loss within each (p, seed), mean and max: how far from the
   best each model is.

Usage: python3 configs/mmoe-paper/paired.py runs/mmoe-paper/results.csv
"""
import collections
import csv
import statistics as st
import sys


def main(path):
    rows = list(csv.DictReader(open(path)))
    mse_cols = [c for c in rows[0] if c.endswith(".mse")]
    loss = collections.defaultdict(dict)
    for r in rows:
        p = next(part.split("=")[1] for part in r["sweep"].split() if part.startswith("data.synthetic.correlation="))
        loss[(r["architecture"], p)][r["seed"]] = st.mean(float(r[c]) for c in mse_cols)
    archs = list(dict.fromkeys(r["architecture"] for r in rows))
    ps = sorted({p for _, p in loss}, key=float, reverse=True)
    head = "| architecture | " + " | ".join(f"p = {p}" for p in ps) + " |\n|---|" + "---|" * len(ps)

    def table(title, cell):
        print(f"{title}\n\n{head}")
        for a in archs:
            print(f"| {a} | " + " | ".join(cell(a, p) for p in ps) + " |")
        print()

    def mean_std(v):
        return f"{st.mean(v):.4f} ± {st.stdev(v):.4f}" if len(v) > 1 else f"{v[0]:.4f}"

    table("Test MSE (mean of the tasks), mean ± std over seeds", lambda a, p: mean_std(list(loss[(a, p)].values())))
    top = ps[0]
    table(
        f"Within each seed: loss(p) / loss(p = {top}), mean ± std",
        lambda a, p: "{:.2f} ± {:.2f}".format(*_ms([loss[(a, p)][s] / loss[(a, top)][s] for s in loss[(a, p)]])),
    )
    table(
        "Within each (p, seed): loss / best architecture's loss, mean (max)",
        lambda a, p: "{:.2f} ({:.2f})".format(
            st.mean(r := [loss[(a, p)][s] / min(loss[(b, p)][s] for b in archs) for s in loss[(a, p)]]), max(r)
        ),
    )


def _ms(v):
    return st.mean(v), (st.stdev(v) if len(v) > 1 else 0.0)


if __name__ == "__main__":
    main(sys.argv[1])
