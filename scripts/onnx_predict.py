#!/usr/bin/env python3
"""Run an mtl ONNX export with ONNX Runtime on a CSV of feature columns.

    python3 scripts/onnx_predict.py RUN_DIR/export input.csv output.csv

`input.csv` names the columns `model.json` lists under onnx.inputs (numeric: numbers, empty =
missing; ids: integer ids, already mapped — see model.json's "mapping"). `output.csv` gets one
column per output value: `TASK` (or `TASK_K` for a task of K > 1 outputs). Needs `onnxruntime`
and `numpy` (pip install onnxruntime numpy).
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main():
    export, source, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    spec = json.loads((export / "model.json").read_text())["onnx"]
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    feeds = {}
    numeric = spec["inputs"]["numeric"]["columns"]
    if numeric:
        feeds["numeric"] = np.array(
            [[float(r[c]) if r[c] != "" else np.nan for c in numeric] for r in rows], dtype=np.float32
        )
    ids = spec["inputs"]["ids"]["columns"]
    if ids:
        feeds["ids"] = np.array([[int(float(r[c])) for c in ids] for r in rows], dtype=np.int64)
    session = ort.InferenceSession(str(export / spec["file"]), providers=["CPUExecutionProvider"])
    names = [o["name"] for o in spec["outputs"]]
    values = session.run(names, feeds)
    header = []
    for o in spec["outputs"]:
        w = o["shape"][1]
        header += [o["name"]] if w == 1 else [f"{o['name']}_{k}" for k in range(w)]
    with open(target, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for i in range(len(rows)):
            out.writerow([repr(float(v)) for value in values for v in value[i]])


if __name__ == "__main__":
    main()
