#!/usr/bin/env python3
"""Accuracy side by side: mtl and the PyTorch reference on the same CSV files.

shared/bench/mmoe_synth.py writes the MMoE paper's two-task data (p = 0.5, 10,000 train /
1,000 valid / 4,000 test rows); both trainers fit the reference's shared-bottom network
(100 → 256 → 256, towers 64 → 1) with equal weighting (sum of the two MSEs), Adam 1e-3,
batch 256, 20 epochs, keep the epoch with the lowest validation loss (sum over tasks) and
report its test MSE per task. mtl reads the files through its CSV source
(benches/pytorch-csv-parity.toml). Seeds differ in initialisation and batch order only (the
data are fixed), and the two libraries draw differently, so the comparison is of the
distributions over seeds, not seed by seed.

    ~/torch-venv/bin/python benches/pytorch_csv_parity.py --mtl target/release/mtl --seeds 3

Prints a Markdown table and writes it to --out (default runs/pytorch-csv-parity/table.md).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def reference_lib(path):
    sys.path.insert(0, path)
    import mtl_lib  # noqa: E402

    return mtl_lib


def torch_run(lib, data, seed, epochs, batch, lr, threads):
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model = lib.SharedBottom(100, [256, 256], [64], 2)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    (xtr, ytr), (xva, yva), (xte, yte) = data
    g = torch.Generator().manual_seed(seed)
    best = (float("inf"), None)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(xtr.shape[0], generator=g)
        for i in range(0, xtr.shape[0], batch):
            idx = order[i:i + batch]
            out = model(xtr[idx])
            loss = sum(F.mse_loss(o, ytr[idx, t]) for t, o in enumerate(out))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            v = sum(F.mse_loss(o, yva[:, t]).item() for t, o in enumerate(model(xva)))
            if v < best[0]:
                best = (v, [F.mse_loss(o, yte[:, t]).item() for t, o in enumerate(model(xte))])
    return best[1]


def mtl_run(binary, config, data_dir, seed, out):
    run = os.path.join(out, "mtl", "seed-%d" % seed)
    subprocess.run(
        [binary, "train", config, "--out", run, "--overwrite", "-q",
         "--set", 'data.csv.dir="%s"' % data_dir, "--set", "run.seed=%d" % seed],
        check=True, cwd=REPO)
    with open(os.path.join(run, "summary.json")) as f:
        s = json.load(f)
    return [s["test"]["y1"]["mse"], s["test"]["y2"]["mse"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mtl", default=os.path.join(REPO, "target/release/mtl"))
    ap.add_argument("--bench", default=os.path.join(REPO, "..", "shared", "bench"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(REPO, "runs", "pytorch-csv-parity"))
    args = ap.parse_args()
    data_root = os.path.join(args.out, "synth")
    subprocess.run([sys.executable, os.path.join(args.bench, "mmoe_synth.py"), "--out", data_root, "--ps", "0.5"],
                   check=True, stdout=subprocess.DEVNULL)
    data_dir = os.path.join(data_root, "p0.5")
    lib = reference_lib(args.bench)
    data = [lib.load_csv(os.path.join(data_dir, n + ".csv")) for n in ("train", "valid", "test")]
    config = os.path.join(HERE, "pytorch-csv-parity.toml")
    rows = []
    for seed in range(1, args.seeds + 1):
        t0 = time.time()
        ref = torch_run(lib, data, seed, args.epochs, 256, 1e-3, args.threads)
        t1 = time.time()
        ours = mtl_run(args.mtl, config, data_dir, seed, args.out)
        t2 = time.time()
        rows.append((seed, ref, ours, t1 - t0, t2 - t1))
        print("seed %d: PyTorch %s (%.0f s), mtl %s (%.0f s)" % (seed, ref, t1 - t0, ours, t2 - t1), flush=True)
    ref = np.array([r[1] for r in rows])
    ours = np.array([r[2] for r in rows])
    lines = [
        "| test MSE | y1 | y2 |",
        "|---|---:|---:|",
        "| PyTorch %s (seeds 1–%d) | %.4f ± %.4f | %.4f ± %.4f |" % (
            torch.__version__, args.seeds, ref[:, 0].mean(), ref[:, 0].std(ddof=1), ref[:, 1].mean(), ref[:, 1].std(ddof=1)),
        "| mtl (CSV source) | %.4f ± %.4f | %.4f ± %.4f |" % (
            ours[:, 0].mean(), ours[:, 0].std(ddof=1), ours[:, 1].mean(), ours[:, 1].std(ddof=1)),
        "| mtl / PyTorch (means) | %.3f | %.3f |" % (ours[:, 0].mean() / ref[:, 0].mean(), ours[:, 1].mean() / ref[:, 1].mean()),
    ]
    table = "\n".join(lines) + "\n"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
