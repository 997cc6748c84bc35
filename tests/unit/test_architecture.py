"""The package's shape: one top-level name, imports that point down only, and no import circles.

Every import counts, wherever it stands: at module level, inside a function, or under
`if TYPE_CHECKING:` (a type from a layer above is still a dependency on it).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import pkgutil
import sysconfig
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import bpsn

# Lowest first. A module may import its own layer and the layers below; the two simulators and
# the core are side by side and never import one another (they talk over HTTP).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("bpsn.base",)),
    ("simulator.common", ("bpsn.simulator.common",)),
    ("bigpanda", ("bpsn.simulator.bigpanda",)),
    ("servicenow", ("bpsn.simulator.servicenow",)),
    ("integration", ("bpsn.integration",)),
    ("tools", ("bpsn",)),  # the CLI, plugin, step library, bench, load tooling, locustfiles
]
MAY_IMPORT: dict[str, set[str]] = {
    "base": {"base"},
    "simulator.common": {"base", "simulator.common"},
    "bigpanda": {"base", "simulator.common", "bigpanda"},
    "servicenow": {"base", "simulator.common", "servicenow"},
    "integration": {"base", "integration"},
    "tools": {name for name, _ in LAYERS},
}


def layer_of(module: str) -> str:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    raise AssertionError(f"{module} is in no layer")


def modules() -> dict[str, Path]:
    found = {"bpsn": Path(bpsn.__file__)}
    for info in pkgutil.walk_packages(bpsn.__path__, "bpsn."):
        spec = info.module_finder.find_spec(info.name, None)  # type: ignore[call-arg]
        assert spec is not None and spec.origin, info.name
        found[info.name] = Path(spec.origin)
    return found


def imported(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import of a bpsn module in this file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` depends on a.b.c, the deepest module
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name, node.lineno


@functools.cache  # parsed once for the three tests that read it (read only)
def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    mods = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    lines: dict[tuple[str, str], int] = {}
    for module, path in mods.items():
        for target, line in imported(module, path, set(mods)):
            graph[module].add(target)
            lines.setdefault((module, target), line)
    return graph, lines


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    graph, lines = import_graph()
    found = cycles(graph)
    described = []
    for component in found:
        members = set(component)
        edges = [f"{a}:{lines[(a, b)]} -> {b}" for a in component for b in sorted(graph[a] & members)]
        described.append("\n  ".join(edges))
    assert not found, "import circles:\n  " + "\n\n  ".join(described)


def test_imports_point_down_only() -> None:
    graph, lines = import_graph()
    wrong = [f"{a}:{lines[(a, b)]} imports {b} ({layer_of(a)} may not import {layer_of(b)})"
             for a, targets in sorted(graph.items()) for b in sorted(targets)
             if layer_of(b) not in MAY_IMPORT[layer_of(a)]]
    assert not wrong, "\n".join(wrong)


def test_state_never_imports_routes() -> None:
    """Routes stay thin and on top: domain state and rules never reach up into a route module."""
    graph, lines = import_graph()

    def is_routes(module: str) -> bool:
        leaf = module.rpartition(".")[2]
        return leaf.startswith("routes") or leaf == "app"

    wrong = [f"{a}:{lines[(a, b)]} imports {b}" for a, targets in sorted(graph.items())
             if a.startswith("bpsn.simulator.") and not is_routes(a)
             for b in sorted(targets) if is_routes(b)]
    assert not wrong, "\n".join(wrong)


def installed() -> importlib.metadata.Distribution:
    """bpsn as installed in site-packages (not a `bpsn.egg-info` that an editable build leaves in
    the checkout, which the working directory on sys.path would find first)."""
    found = list(importlib.metadata.distributions(name="bpsn", path=[sysconfig.get_path("purelib")]))
    assert found, "bpsn is not installed in this environment's site-packages"
    return found[0]


def test_the_distribution_installs_one_top_level_package() -> None:
    """Nothing but `bpsn` (and its metadata) goes into site-packages."""
    files = installed().files or []
    tops = {f.parts[0] for f in files  # an editable install adds its own finder and .pth
            if f.parts and not f.parts[0].startswith("..") and not f.name.startswith("__editable__")}
    extra = {t for t in tops if t != "bpsn" and not t.endswith(".dist-info")}
    assert not extra, f"top-level names besides bpsn: {sorted(extra)}"


def test_an_editable_install_maps_only_bpsn() -> None:
    """setuptools' editable finder lists the names it serves; a nested mapping would leak here."""
    for f in installed().files or []:
        if f.name.startswith("__editable__") and f.name.endswith("_finder.py"):
            tree = ast.parse(Path(str(f.locate())).read_text())
            mapping = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                           if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "MAPPING")
            assert set(mapping) == {"bpsn"}, mapping
