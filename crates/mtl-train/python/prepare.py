# --- Inputs: raw feature columns -> the graph's `numeric` and `ids` (written by mtl export) ---
#
# `prepare(columns)` takes the raw cells of the feature columns, by column name (a list per
# column, as `read_csv` gives them or as text from anywhere else), and returns the two inputs
# of the exported network, the way `mtl predict` reads a file:
#
# - "numeric": float32 [rows, d], the dense columns in the order of model.json's
#   onnx/serving "numeric" list; a missing cell (empty, or one of the table's missing markers)
#   is NaN, which the network fills with the training mean before standardising.
# - "ids": int64 [rows, k], one id per categorical column and `max_len` per multi-hot column:
#   a vocabulary column maps values[i] of its vocabulary to i + 1, a hashed column maps a
#   value to 1 + fnv1a64(value) mod N, a sharing column uses the map of the column it shares;
#   0 = missing or unseen (and the padding of a multi-hot column's slots). A generated
#   dataset's code columns give their codes as they are.
#
# Cells are compared as text, trimmed: give a categorical value as it is written in the
# training file ("7", not 7.0).

import csv as _csv
import json as _json
import math as _math
from pathlib import Path as _Path

import numpy as _np

# The inputs section of model.json beside this file (inputs.json of the run).
INPUTS = _json.loads((_Path(__file__).resolve().parent / "model.json").read_text())["inputs"]


def fnv1a64(text):
    """64-bit FNV-1a of the UTF-8 bytes: the hash of hashed id columns."""
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) % (1 << 64)
    return h


def read_csv(path, delimiter=None):
    """The columns of a CSV file with a header, as lists of text cells."""
    table = (INPUTS.get("table") or {}).get("format") or {}
    delimiter = delimiter or table.get("delimiter", ",")
    with open(path, newline="") as f:
        rows = list(_csv.reader(f, delimiter=delimiter))
    if not rows:
        raise ValueError(f"{path}: empty file")
    header, body = rows[0], rows[1:]
    return {name: [r[j] if j < len(r) else "" for r in body] for j, name in enumerate(header)}


def _text(cell):
    if cell is None or (isinstance(cell, float) and _math.isnan(cell)):
        return ""
    return str(cell).strip()


def _column(columns, name):
    if name not in columns:
        raise ValueError(f"input column `{name}` is missing (the network reads {feature_columns()})")
    return list(columns[name])


def feature_columns():
    """The columns `prepare` reads."""
    table = INPUTS.get("table")
    if table is None:
        return list(INPUTS["features"])
    own = [v["column"] for v in table["categorical"]] + [m["column"] for m in table.get("multi_hot", [])]
    return own + [s["column"] for s in table["numeric"]]


def prepare(columns, inputs=None):
    """Raw cells by column name -> {"numeric": float32 [rows, d], "ids": int64 [rows, k]}
    (a key only where the network has that input)."""
    spec = inputs or INPUTS
    table = spec.get("table")
    rows = None
    for name in feature_columns():
        n = len(_column(columns, name))
        if rows is not None and n != rows:
            raise ValueError(f"input column `{name}` has {n} cells, the others {rows}")
        rows = n
    rows = rows or 0
    if table is None:
        codes = [(int(position), int(card)) for position, card in spec.get("codes", [])]
        coded = {position for position, _ in codes}
        numeric = [
            [float(_text(c) or "nan") for c in _column(columns, name)]
            for position, name in enumerate(spec["features"])
            if position not in coded
        ]
        ids = []
        for position, card in codes:
            name, out = spec["features"][position], []
            for r, cell in enumerate(_column(columns, name)):
                value = float(_text(cell) or "nan")
                if not (_math.isfinite(value) and 0 <= value < card and value == int(value)):
                    raise ValueError(f"input column `{name}` row {r}: {cell!r} is not a category code 0..{card - 1}")
                out.append(int(value))
            ids.append(out)
    else:
        fmt = table["format"]
        missing = set(fmt.get("missing", [])) | {""}
        separator = fmt.get("list_separator", "|")
        owned = {v["column"]: v for v in table["categorical"]}
        owned.update({m["column"]: m for m in table.get("multi_hot", [])})

        def mapper(v):
            owner = owned.get(v.get("shares")) or v
            if owner.get("hash_buckets") is not None:
                n = int(owner["hash_buckets"])
                return lambda value: 1 + fnv1a64(value) % n
            index = {value: i + 1 for i, value in enumerate(owner.get("values", []))}
            return lambda value: index.get(value, 0)

        ids = []
        for v in table["categorical"]:
            id_of = mapper(v)
            cells = (_text(c) for c in _column(columns, v["column"]))
            ids.append([0 if c in missing else id_of(c) for c in cells])
        for m in table.get("multi_hot", []):
            id_of, slots = mapper(m), int(m["max_len"])
            bags = []
            for cell in _column(columns, m["column"]):
                cell = _text(cell)
                items = [] if cell in missing else [i.strip() for i in cell.split(separator)]
                kept = [id_of(i) for i in items if i not in missing][:slots]
                bags.append(kept + [0] * (slots - len(kept)))
            ids.extend([bag[k] for bag in bags] for k in range(slots))
        numeric = []
        for s in table["numeric"]:
            cells = (_text(c) for c in _column(columns, s["column"]))
            numeric.append([_math.nan if c in missing else float(c) for c in cells])
    feeds = {}
    if numeric:
        feeds["numeric"] = _np.array(numeric, dtype=_np.float32).T.reshape(rows, len(numeric))
    if ids:
        feeds["ids"] = _np.array(ids, dtype=_np.int64).T.reshape(rows, len(ids))
    return feeds
