#!/usr/bin/env python3
"""Fails when the library's modules import each other in a cycle, or a leaf module
(paths, token, crypto, store, error) imports one built on it.

Every file under src/ (but src/bin) is a module; an edge goes from a file to each module
it names through `crate::…`, `super::…` or `self::…` paths (in `use` items or in code),
resolved to the deepest module that exists. A cycle means data no longer flows one way
(middleware -> authorize -> leaves), which is what issue 12 restructured the crate for.
Usage: python3 .ci/module-cycles.py [src-dir]. Prints the cycles and exits 1, or 0.
"""

import re
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


files = {module_of(p): p for p in src.rglob("*.rs") if "bin" not in p.relative_to(src).parts}


def strip_comments_and_tests(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    # Test modules may import anything: they are not part of the flow.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    return text[: cut.start()] if cut else text


def expand_use(tree: str, prefix: list) -> list:
    """`a::{b, c::{d}}` -> [[a, b], [a, c, d]]."""
    out, depth, item = [], 0, ""
    tree = tree.strip()
    brace = tree.find("{")
    if brace == -1:
        return [prefix + [p for p in tree.split("::") if p]]
    head = [p for p in tree[:brace].split("::") if p]
    body = tree[brace + 1 : tree.rfind("}")]
    for ch in body + ",":
        if ch == "," and depth == 0:
            if item.strip():
                out += expand_use(item, prefix + head)
            item = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        item += ch
    return out


def resolve(current: tuple, path: list) -> tuple | None:
    if not path:
        return None
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] in ("super", "self"):
        base = current
        rest = path
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    target = base
    for part in rest:
        if base + (part,) in files or tuple(list(target) + [part]) in files:
            target = tuple(list(target) + [part])
        else:
            break
    return target if target in files else None


edges = {m: set() for m in files}
for module, path in files.items():
    text = strip_comments_and_tests(path.read_text())
    paths = []
    for use in re.findall(r"\buse\s+((?:crate|super|self)::[^;]+);", text, re.S):
        paths += expand_use(re.sub(r"\s+", "", use), [])
    for inline in re.findall(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        paths.append(inline.split("::"))
    for p in paths:
        target = resolve(module, p)
        # A module's own children and its parent's declarations are not imports.
        if target is not None and target != module and target != module[: len(target)]:
            edges[module].add(target)

# Tarjan's strongly connected components.
index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        if len(component) > 1:
            cycles.append(component)


sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        visit(v)

name = lambda m: "::".join(m) or "crate"

# Leaves: what the rest is built from. They import nothing from the parts built on them.
LEAVES = ("paths", "token", "crypto", "store", "error")
UPPER = ("middleware", "router", "config", "auth", "authorize", "state")
upward = [
    (m, t)
    for m, targets in edges.items()
    for t in targets
    if m and m[0] in LEAVES and t and t[0] in UPPER
]
for m, t in sorted(upward):
    print(f"leaf module {name(m)} imports {name(t)}")

if cycles or upward:
    for component in cycles:
        print("import cycle:", ", ".join(sorted(name(m) for m in component)))
        for m in sorted(component):
            inside = sorted(name(t) for t in edges[m] if t in component)
            print(f"  {name(m)} -> {', '.join(inside)}")
    sys.exit(1)
print(f"no import cycle among {len(files)} modules ({sum(map(len, edges.values()))} imports)")
