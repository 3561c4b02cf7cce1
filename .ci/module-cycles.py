#!/usr/bin/env python3
"""Fail on an import circle between modules, or on a library crate importing the app.

For every crate of the workspace (the libraries under crates/ and the app in src/), each
source file is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`). A path `crate::x::y::…`,
`super::…` or `self::…` in a file is a dependency of that file's module on the longest known
module the path names. Two modules depend on each other through their children of the common
parent: `config::resolve` using `data::DataSource` is the edge `config → data` among the crate's
top-level modules; `fit::observers::log` using `fit::selector` is `observers → selector` among
`fit`'s children. A module's dependence on its own ancestors or descendants is not an edge
(a parent declares its children; a child may use what its parent defines). Every level's graph
must be free of cycles.

Usage: .ci/module-cycles.py [REPO_ROOT]   (exit 1 and the cycles found, else exit 0)
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{")
LINE_COMMENT = re.compile(r"//.*")
APP_CRATE = "mtl"


def module_of(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip(text: str) -> str:
    """Code without comments (line and doc comments; block comments are rare here)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(LINE_COMMENT.sub("", line) for line in text.splitlines())


def references(text: str, here: tuple):
    """Absolute module paths (tuples) named in `text`, a file of module `here`."""

    def absolute(root: str, rest: str) -> tuple:
        names = [n for n in rest.split("::") if n]
        base = {"crate": (), "self": here, "super": here[:-1]}[root]
        while names and names[0] == "super":
            base, names = base[:-1], names[1:]
        return base + tuple(names)

    for m in PATH.finditer(text):
        yield absolute(m.group(1), m.group(2))
    # `use crate::{a::X, b::Y}`: the items of a group, one level deep.
    for m in GROUP.finditer(text):
        start = m.end()
        depth, end = 1, start
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        prefix = absolute(m.group(1), m.group(2))
        for item in re.split(r",(?![^{]*\})", text[start : end - 1]):
            names = [n for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", item.split("{")[0])]
            if names and names[0] != "self":
                yield prefix + tuple(names)


def crate_graph(src: Path) -> dict:
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f): f for f in files}
    edges = {}
    for mod, file in modules.items():
        text = strip(file.read_text(encoding="utf-8"))
        # An in-file `mod tests { … }` block is a child module: its `super::` is this file.
        split = re.search(r"^mod tests\s*\{", text, flags=re.M)
        body, tests = (text[: split.start()], text[split.start() :]) if split else (text, "")
        found = list(references(body, mod)) + list(references(tests, mod + ("tests",)))
        for target in found:
            while target and target not in modules:
                target = target[:-1]
            if not target or target[: len(mod)] == mod or mod[: len(target)] == target:
                continue
            common = 0
            while mod[common] == target[common]:
                common += 1
            a, b = mod[: common + 1], target[: common + 1]
            why = edges.setdefault(a, {}).setdefault(b, [])
            note = (f"{file.relative_to(src)} → {'::'.join(target)}")
            if note not in why:
                why.append(note)
    return edges


def cycles(edges: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    sys.setrecursionlimit(10000)
    failed = False
    crates = [root / "src"] + sorted(p / "src" for p in (root / "crates").iterdir() if (p / "src").is_dir())
    for src in crates:
        edges = crate_graph(src)
        for comp in cycles(edges):
            failed = True
            names = ["::".join(m) for m in comp]
            print(f"error: import circle in {src.relative_to(root)}: {' ↔ '.join(names)}")
            for a in comp:
                for b in comp:
                    for why in edges.get(a, {}).get(b, [])[:3]:
                        print(f"    {why}")
    for manifest in sorted((root / "crates").glob("*/Cargo.toml")):
        text = manifest.read_text(encoding="utf-8")
        if re.search(rf"^\s*{APP_CRATE}\s*=", text, flags=re.M):
            failed = True
            print(f"error: {manifest.relative_to(root)} depends on the app crate `{APP_CRATE}`")
    for file in sorted((root / "crates").rglob("*.rs")):
        if re.search(rf"\b(use\s+|::)?\b{APP_CRATE}::", strip(file.read_text(encoding="utf-8"))):
            failed = True
            print(f"error: {file.relative_to(root)} names the app crate `{APP_CRATE}::`")
    if failed:
        print("fix: move the shared item into the lower module (or a new one both use), or turn the call into an event")
        return 1
    print("module graph: no import circles; no library imports the app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
