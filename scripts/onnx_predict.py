#!/usr/bin/env python3
"""Run an mtl ONNX export with ONNX Runtime on a CSV of raw feature columns.

    python3 scripts/onnx_predict.py RUN_DIR/export input.csv output.csv

`input.csv` holds the feature columns as the training files did (categorical values as text,
numbers, empty = missing); the export's `prepare.py` maps them to the graph's `numeric` and
`ids` inputs (see model.json's onnx.inputs). `output.csv` gets one column per output value:
`TASK` (or `TASK_K` for a task of K > 1 outputs). Needs `onnxruntime` and `numpy`
(pip install onnxruntime numpy).
"""

import csv
import json
import sys
from pathlib import Path

import onnxruntime as ort


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    export, source, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    spec = json.loads((export / "model.json").read_text()).get("onnx")
    if spec is None:
        print(f"error: {export}/model.json has no onnx section: export with `mtl export --format onnx`", file=sys.stderr)
        sys.exit(2)
    sys.path.insert(0, str(export))
    import prepare

    try:
        feeds = prepare.prepare(prepare.read_csv(source))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    session = ort.InferenceSession(str(export / spec["file"]), providers=["CPUExecutionProvider"])
    names = [o["name"] for o in spec["outputs"]]
    values = session.run(names, feeds)
    header = []
    for o in spec["outputs"]:
        w = o["shape"][1]
        header += [o["name"]] if w == 1 else [f"{o['name']}_{k}" for k in range(w)]
    rows = len(values[0]) if values else 0
    with open(target, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for i in range(rows):
            out.writerow([repr(float(v)) for value in values for v in value[i]])


if __name__ == "__main__":
    main()
