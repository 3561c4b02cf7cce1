#!/usr/bin/env python3
"""The funnel study: naive CVR, shared bottom, MMoE, ESMM, ESCM²-IPS and -DR, AITM (on hps and mmoe) on
the embedded click -> conversion funnel, at several click rates and seeds.

    cargo build --release
    python3 configs/funnel/study.py [--mtl target/release/mtl] [--out runs/funnel-study]

Per run it reads summary.json (test split) and `mtl predict --split test`:
- entire-space CVR AUC: the conversion's own probability (a chain: its tower; AITM's is the
  ratio of its joint to pCTR) against the true
  conversion of every test impression (`entire_space.auc`);
- CVR AUC on clicked rows (`tower.auc` for ESMM, the task's `auc` otherwise);
- CTCVR AUC: pCTR * pCVR against click AND conversion on every test row (ESMM predicts the
  joint probability itself, `conversion_joint_prob`; the naive model has no click tower);
- calibration: mean predicted CVR over all test impressions beside the true rate.
Prints a markdown table of means (and standard deviations) over the seeds. Standard library only.
"""

import argparse
import csv
import json
import statistics
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = {
    "naive CVR (clicked rows only)": ("naive.toml", ['run.single_task="conversion"']),
    "shared bottom (hps)": ("naive.toml", []),
    "MMoE": ("naive.toml", ['model.architecture="mmoe"']),
    "ESMM (hps)": ("esmm.toml", []),
    "ESMM (mmoe)": ("esmm.toml", ['model.architecture="mmoe"']),
    "ESCM²-IPS (hps)": ("escm2-ips.toml", []),
    "ESCM²-IPS (mmoe)": ("escm2-ips.toml", ['model.architecture="mmoe"']),
    "ESCM²-DR (hps)": ("escm2-dr.toml", []),
    "ESCM²-DR (mmoe)": ("escm2-dr.toml", ['model.architecture="mmoe"']),
    "AITM (hps)": ("aitm.toml", []),
    "AITM (mmoe)": ("aitm.toml", ['model.architecture="mmoe"']),
}


def auc(scores, labels):
    """Mann-Whitney AUC with ties counted half."""
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # ranks i+1..j
        rank_sum += mid * sum(l for _, l in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def run(mtl, out, config, sets):
    cmd = [mtl, "train", str(HERE / config), "--out", str(out), "--overwrite", "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    test = json.loads((out / "summary.json").read_text())["test"]
    conv = test["conversion"]
    row = {
        "entire": conv["entire_space"]["auc"],
        "clicked": conv.get("tower", conv)["auc"],
        "mean_prob": conv["entire_space"]["mean_prob"],
        "rate": conv["entire_space"]["rate"],
        "ctcvr": float("nan"),
    }
    if "click" in test:
        pred = out / "test-predictions.csv"
        subprocess.run([mtl, "predict", str(out), "--split", "test", "--output", str(pred)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(pred) as f:
            rows = list(csv.DictReader(f))
        if "conversion_joint_prob" in rows[0]:  # a chain: ESMM's pCTCVR and its label
            score = [float(r["conversion_joint_prob"]) for r in rows]
            label = [int(r["conversion_joint_label"] == "1") for r in rows]
        else:  # pCTR * pCVR against click AND conversion (empty where not clicked)
            score = [float(r["click_prob"]) * float(r["conversion_prob"]) for r in rows]
            label = [int(r["click_label"] == "1" and r["conversion_label"] == "1") for r in rows]
        row["ctcvr"] = auc(score, label)
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mtl", default="target/release/mtl")
    p.add_argument("--out", default="runs/funnel-study")
    p.add_argument("--rates", default="0.2,0.05,0.01")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--samples", type=int, default=200000)
    p.add_argument("--confounding", type=float, default=0.0, help="data.synthetic.funnel.confounding")
    p.add_argument("--models", default="", help="comma-separated parts of model names to run (the naive one always runs)")
    a = p.parse_args()
    wanted = [m.strip() for m in a.models.split(",") if m.strip()]
    naive = next(iter(MODELS))
    models = {n: v for n, v in MODELS.items() if n == naive or not wanted or any(w in n for w in wanted)}
    rates = [float(r) for r in a.rates.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    results = {}
    for rate in rates:
        for name, (config, sets) in models.items():
            for seed in seeds:
                out = Path(a.out) / f"rate{rate}" / f"{config[:-5]}-{len(sets)}-{name.split(' ')[0].lower()}-seed{seed}"
                extra = sets + [f"data.synthetic.funnel.click_rate={rate}", f"run.seed={seed}",
                                f"data.synthetic.samples={a.samples}",
                                f"data.synthetic.funnel.confounding={a.confounding}"]
                results.setdefault((rate, name), []).append(run(a.mtl, out, config, extra))
    def cell(rows, key):
        v = [r[key] for r in rows]
        if any(x != x for x in v):
            return "—"
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        return f"{statistics.mean(v):.4f} ± {sd:.4f}"
    print("| click rate | model | entire-space CVR AUC | paired Δ vs naive | CVR AUC, clicked rows | CTCVR AUC | mean pCVR / true rate |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for (rate, name), rows in results.items():
        calib = f"{statistics.mean(r['mean_prob'] for r in rows):.4f} / {statistics.mean(r['rate'] for r in rows):.4f}"
        # Each seed draws its own funnel: compare models on the same seed.
        diffs = [r["entire"] - b["entire"] for r, b in zip(rows, results[(rate, naive)])]
        paired = "—" if name == naive else cell([{"d": d} for d in diffs], "d")
        print(f"| {rate:.0%} | {name} | {cell(rows, 'entire')} | {paired} | {cell(rows, 'clicked')} | {cell(rows, 'ctcvr')} | {calib} |")
    # AITM's published claim is on CTCVR against ESMM: paired by seed, same shared part.
    pairs = [(rate, name, f"ESMM ({name.split('(')[1]}") for (rate, name) in results if name.startswith("AITM")]
    pairs = [p for p in pairs if (p[0], p[2]) in results]
    if pairs:
        print()
        print("| click rate | model | paired CTCVR AUC Δ vs ESMM | paired entire-space CVR AUC Δ vs ESMM |")
        print("|---:|---|---:|---:|")
        for rate, name, esmm in pairs:
            rows, base = results[(rate, name)], results[(rate, esmm)]
            d = lambda k: cell([{"d": r[k] - b[k]} for r, b in zip(rows, base)], "d")
            print(f"| {rate:.0%} | {name} | {d('ctcvr')} | {d('entire')} |")


if __name__ == "__main__":
    main()
