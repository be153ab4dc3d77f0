"""The package's architecture as a test: no import cycles, no private names across modules, and
every layer imports only the layers below it.

The scan reads the source with :mod:`ast` (nothing is imported, no tool is needed). Folders map
to packages as pyproject's ``[tool.setuptools.package-dir]`` says (``golden/`` is
``ulpflow.golden``, ...).

What counts as an import of module ``M`` by module ``A`` (an *edge* ``A -> M``):

* every ``import`` / ``from ... import`` statement anywhere in ``A``: module level, inside
  functions and methods, under ``if TYPE_CHECKING:``; relative imports are resolved against
  ``A``'s package; ``importlib.import_module("<literal>")`` counts as well;
* the dotted name is resolved to the deepest module of the package it reaches:
  ``from ulpflow.golden.formats import parse_format`` reaches ``ulpflow.golden.formats``;
  ``from ulpflow.golden import add`` reaches the package ``ulpflow.golden`` (its
  ``__init__``), and ``from ulpflow.golden import formats`` the submodule;
* Python also runs the ``__init__`` of every package above ``M``. Those packages that are not
  also packages above ``A`` are edges too (importing ``ulpflow.golden.formats`` from ``hdl``
  runs ``golden/__init__``); the packages above ``A`` are not, because they are already being
  imported when ``A`` runs (a package's ``__init__`` importing its own submodules is therefore
  no cycle by itself).

A package ``__init__`` re-exporting names of its submodules is thus an ordinary module with
edges to those submodules. A cycle through it arises only when a submodule imports its own
package by name (``from . import name`` of a non-module name, ``from ulpflow.golden import x``
inside golden): that is a real cycle (the submodule sees a half-initialised package) and is
reported. Inside a package, import siblings directly.

Rules (each reported with the modules and file:line):

(a) no cycle in the edge graph (each strongly connected component is reported with one
    concrete cycle through it);
(b) no private name ``_x`` imported from another module (``from .m import _x``, or
    ``m._x`` through a module bound by an import); private modules (``hdl/_common.py``) may be
    imported only from inside their own package. Dunder names (``__version__``) are public.
    Attribute reach-ins on objects (``tree._nodes``) cannot be seen without types and are not
    checked here;
(c) layering, by the importing module:

    ==========================  =========================================
    module                      may import (within ulpflow)
    ==========================  =========================================
    ulpflow.golden.*            golden
    ulpflow.hdl.*               golden, hdl
    ulpflow.sim.*               golden, hdl, sim
    ulpflow.boards.*            golden, hdl, boards
    ulpflow.nets.* (not driver) golden, nets (constructions; not the driver)
    ulpflow.nets.driver[.*]     anything (it sits on top, beside the CLI)
    ulpflow, ulpflow.cli, ...   anything (the top package)
    ==========================  =========================================

    ``nets/__init__`` counts as a construction module: it must not import the driver (expose
    the driver lazily, or from the top package).
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = "ulpflow"


# --------------------------------------------------------------------------------------------
# the scanner


@dataclass(frozen=True)
class Source:
    """One module to scan: its dotted name, whether it is a package ``__init__``, its text and
    the path shown in messages."""
    name: str
    is_package: bool
    text: str
    path: str


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    where: str              # "golden/tree.py:484"
    note: str = ""          # "in reduce", "package above ulpflow.golden.formats"
    implicit: bool = False  # a package Python runs above the named module


@dataclass
class Scan:
    modules: dict[str, Source]
    edges: list[Edge] = field(default_factory=list)
    private: list[str] = field(default_factory=list)   # messages for rule (b)

    def graph(self) -> dict[str, dict[str, Edge]]:
        g: dict[str, dict[str, Edge]] = {m: {} for m in self.modules}
        for e in self.edges:
            g[e.src].setdefault(e.dst, e)
        return g


def _package_of(src: Source) -> str:
    return src.name if src.is_package else src.name.rpartition(".")[0]


def _ancestors(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]`` (packages above, outermost first)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _deepest(modules, dotted: str) -> str | None:
    """The deepest module of the scanned set that ``dotted`` names or lies inside."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in modules:
            return cand
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, scan: Scan, src: Source):
        self.scan, self.src = scan, src
        self.scope: list[str] = []
        self.module_aliases: dict[str, str] = {}   # local name -> scanned module it is bound to

    # -- scopes, for messages
    def _scoped(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def _where(self, node) -> tuple[str, str]:
        return f"{self.src.path}:{node.lineno}", (f"in {'.'.join(self.scope)}" if self.scope else "")

    def _edge(self, node, target: str, note: str = ""):
        where, scope = self._where(node)
        note = ", ".join(n for n in (scope, note) if n)
        mods = self.scan.modules
        # packages above the target that are not above the importer: Python runs them too
        above_src = set(_ancestors(self.src.name)) | ({self.src.name} if self.src.is_package else set())
        for pkg in _ancestors(target):
            if pkg in mods and pkg not in above_src and pkg != self.src.name:
                self.scan.edges.append(Edge(
                    self.src.name, pkg, where,
                    ", ".join(n for n in (note, f"package above {target}") if n), implicit=True))
        if target != self.src.name:
            self.scan.edges.append(Edge(self.src.name, target, where, note))

    def _check_private_module(self, node, target: str):
        """A private module may be imported only from inside its own package."""
        parts = target.split(".")
        for i, part in enumerate(parts):
            if _is_private(part):
                owner = ".".join(parts[:i])      # the package the private module belongs to
                inside = self.src.name == owner or self.src.name.startswith(owner + ".")
                if not inside:
                    where, scope = self._where(node)
                    self.scan.private.append(
                        f"{where}: {self.src.name} imports the private module {target} "
                        f"from outside {owner}" + (f" ({scope})" if scope else ""))
                return

    def _private_name(self, node, name: str, owner: str):
        where, scope = self._where(node)
        self.scan.private.append(f"{where}: {self.src.name} imports the private name {name!r} "
                                 f"from {owner}" + (f" ({scope})" if scope else ""))

    # -- imports
    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            target = _deepest(self.scan.modules, alias.name)
            if target is None:
                continue
            self._edge(node, target)
            self._check_private_module(node, target)
            if alias.asname and target == alias.name:
                self.module_aliases[alias.asname] = target
            elif not alias.asname:               # "import ulpflow.golden.formats" binds ulpflow
                top = alias.name.partition(".")[0]
                if top in self.scan.modules:
                    self.module_aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom):
        if node.level:
            base = _package_of(self.src)
            for _ in range(node.level - 1):
                base, _sep, _rest = base.rpartition(".")
            if not base:
                raise ValueError(f"{self.src.path}:{node.lineno}: relative import beyond the "
                                 f"top-level package")
            dotted = f"{base}.{node.module}" if node.module else base
        else:
            dotted = node.module
        target = _deepest(self.scan.modules, dotted)
        if target is None:
            return
        if target != dotted:     # "from ulpflow.golden.formats.x import y": x is not a module
            self._edge(node, target)
            self._check_private_module(node, target)
            return
        names_from_target = []
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in self.scan.modules:         # a submodule
                self._edge(node, sub)
                self._check_private_module(node, sub)
                self.module_aliases[alias.asname or alias.name] = sub
            else:
                names_from_target.append(alias.name)
        if names_from_target:
            self._edge(node, target)
            self._check_private_module(node, target)
            for name in names_from_target:
                if _is_private(name) and target != self.src.name:
                    self._private_name(node, name, target)

    def visit_Call(self, node: ast.Call):
        f = node.func
        is_import_module = (isinstance(f, ast.Attribute) and f.attr == "import_module") or \
            (isinstance(f, ast.Name) and f.id in ("import_module", "__import__"))
        if is_import_module and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and not node.args[0].value.startswith("."):
            target = _deepest(self.scan.modules, node.args[0].value)
            if target is not None:
                self._edge(node, target, "import_module")
                self._check_private_module(node, target)
        self.generic_visit(node)

    def _module_of(self, expr) -> str | None:
        """The scanned module an expression such as ``f`` or ``ulpflow.golden.formats`` names
        through the module bindings of this file, else None."""
        if isinstance(expr, ast.Name):
            return self.module_aliases.get(expr.id)
        if isinstance(expr, ast.Attribute):
            base = self._module_of(expr.value)
            if base is not None and f"{base}.{expr.attr}" in self.scan.modules:
                return f"{base}.{expr.attr}"
        return None

    def visit_Attribute(self, node: ast.Attribute):
        owner = self._module_of(node.value) if _is_private(node.attr) else None
        if owner is not None:
            if f"{owner}.{node.attr}" in self.scan.modules:    # m._sub: a private module
                self._check_private_module(node, f"{owner}.{node.attr}")
            elif owner != self.src.name:
                self._private_name(node, node.attr, owner)
        self.generic_visit(node)


def scan_sources(sources) -> Scan:
    """Scan a set of :class:`Source` (every module of the package)."""
    scan = Scan({s.name: s for s in sources})
    for src in scan.modules.values():
        _Visitor(scan, src).visit(ast.parse(src.text, filename=src.path))
    return scan


def package_sources(root: Path = ROOT) -> list[Source]:
    """Every module of the package, from the folders of pyproject's package-dir."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    package_dir = config["tool"]["setuptools"]["package-dir"]
    sources = []
    for package, folder in package_dir.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base)
            if any(p in package_dir.values() and p != folder for p in rel.parts[:1]) \
                    or any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            # a subfolder belongs to the package only if it is a package itself
            if not all((base / Path(*rel.parts[:i]) / "__init__.py").exists()
                       for i in range(1, len(rel.parts))):
                continue
            parts = list(rel.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([package, *parts])
            sources.append(Source(name, is_package, path.read_text(),
                                  str(path.relative_to(root))))
    return sources


# -- (a) cycles


def cycles(scan: Scan) -> list[list[Edge]]:
    """One concrete cycle (list of edges) per strongly connected component that has one."""
    g = scan.graph()
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def strongconnect(v):       # Tarjan, iterative enough for a few hundred modules
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            strongconnect(v)

    found = []
    for comp in sccs:
        members = set(comp)
        start = comp[0]
        if len(comp) == 1 and start not in g[start]:
            continue
        # shortest path start -> ... -> start inside the component (BFS)
        prev: dict[str, Edge] = {}
        frontier, seen, closing = [start], {start}, None
        while frontier and closing is None:
            nxt = []
            for v in frontier:
                for w, e in sorted(g[v].items()):
                    if w == start:
                        closing = e
                        break
                    if w in members and w not in seen:
                        seen.add(w)
                        prev[w] = e
                        nxt.append(w)
                if closing is not None:
                    break
            frontier = nxt
        path = [closing]
        while path[0].src != start:
            path.insert(0, prev[path[0].src])
        found.append(path)
    return found


def describe_cycle(path: list[Edge], scan: Scan | None = None) -> str:
    """``a -> b (a.py:3) -> a (b.py:9, in f)``; with ``scan``, also the other imports between
    the modules of the cycle's component (any one of them may be what keeps it closed)."""
    text = path[0].src
    for e in path:
        text += f" -> {e.dst} ({e.where}{', ' + e.note if e.note else ''})"
    if scan is not None:
        g = scan.graph()
        members = {e.src for e in path}
        # widen to the whole strongly connected component: reachable both ways
        def reach(start, graph):
            seen, todo = {start}, [start]
            while todo:
                for w in graph[todo.pop()]:
                    if w not in seen:
                        seen.add(w)
                        todo.append(w)
            return seen
        rev = {m: [v for v in g if m in g[v]] for m in g}
        start = path[0].src
        members = reach(start, g) & reach(start, rev)
        shown = {(e.src, e.dst, e.where) for e in path}
        more = sorted(f"{e.src} -> {e.dst} ({e.where}{', ' + e.note if e.note else ''})"
                      for e in scan.edges if e.src in members and e.dst in members
                      and (e.src, e.dst, e.where) not in shown)
        if len(members) > len(path):
            text += "\n    component: " + ", ".join(sorted(members))
        for m in more:
            text += "\n    also: " + m
    return text


# -- (c) layers

_ALLOWED = {
    "golden": {"golden"},
    "hdl": {"golden", "hdl"},
    "sim": {"golden", "hdl", "sim"},
    "boards": {"golden", "hdl", "boards"},
    "nets": {"golden", "nets"},
}


def layer(module: str) -> str:
    """``golden``, ``hdl``, ``sim``, ``boards``, ``nets`` (the constructions), ``driver`` or
    ``top``."""
    parts = module.split(".")
    if parts[0] != TOP:
        raise ValueError(f"{module} is not a module of {TOP}")
    if len(parts) == 1 or parts[1] not in _ALLOWED:
        return "top"
    if parts[1] == "nets" and len(parts) > 2 and parts[2] == "driver":
        return "driver"
    return parts[1]


def layer_violations(scan: Scan) -> list[str]:
    """One message per import of a module the importer's layer may not use (the packages run
    above a named module are in its layer, so only named modules are checked)."""
    out = []
    for e in scan.edges:
        if e.implicit:
            continue
        src, dst = layer(e.src), layer(e.dst)
        if src in ("top", "driver"):
            continue
        if dst not in _ALLOWED[src]:
            what = {"driver": "the nets driver", "top": "the top package"}.get(dst, dst)
            out.append(f"{e.where}: {e.src} ({src}) imports {e.dst} ({what})"
                       + (f" [{e.note}]" if e.note else ""))
    return sorted(set(out))


# --------------------------------------------------------------------------------------------
# the rules on the real package

@pytest.fixture(scope="module")
def package_scan():
    return scan_sources(package_sources())


def test_no_import_cycles(package_scan):
    found = cycles(package_scan)
    if found:
        pytest.fail(f"{len(found)} import cycle(s):\n" + "\n".join(
            "  " + describe_cycle(p, package_scan) for p in found), pytrace=False)


def test_no_private_names_across_modules(package_scan):
    found = sorted(set(package_scan.private))
    if found:
        pytest.fail(f"{len(found)} private import(s) across modules:\n" + "\n".join(
            "  " + m for m in found), pytrace=False)


def test_layers_import_only_lower_layers(package_scan):
    found = layer_violations(package_scan)
    if found:
        pytest.fail(f"{len(found)} layering violation(s):\n" + "\n".join(
            "  " + m for m in found), pytrace=False)


# --------------------------------------------------------------------------------------------
# the scanner itself, on small synthetic module sets


def synthetic(**modules: str) -> Scan:
    """``synthetic(**{"ulpflow.golden.a": "...", "ulpflow.golden": "..."})``: a name that is a
    prefix of another one is a package."""
    names = set(modules)
    return scan_sources([
        Source(n, any(m.startswith(n + ".") for m in names), text, n.replace(".", "/") + ".py")
        for n, text in modules.items()])


PKG = {"ulpflow": "", "ulpflow.golden": "", "ulpflow.hdl": "", "ulpflow.sim": "",
       "ulpflow.nets": "", "ulpflow.boards": ""}


def mods(**extra):
    return {**PKG, **{k.replace("__", "."): v for k, v in extra.items()}}


def cycle_sets(scan):
    return [sorted({e.src for e in p}) for p in cycles(scan)]


def test_scanner_clean_set_has_nothing():
    s = synthetic(**mods(
        ulpflow__golden="from .a import f\nfrom .b import g\n",
        ulpflow__golden__a="X = 1\ndef f(): return X\n",
        ulpflow__golden__b="from .a import f\nimport numpy as np\ndef g(): return f()\n",
        ulpflow__hdl__u="from ulpflow.golden import f\nfrom ulpflow.golden.a import X\n",
        ulpflow__cli="from ulpflow.hdl import u\nimport ulpflow.sim\n"))
    assert cycles(s) == [] and s.private == [] and layer_violations(s) == []
    assert {(e.src, e.dst) for e in s.edges} >= {
        ("ulpflow.golden.b", "ulpflow.golden.a"), ("ulpflow.hdl.u", "ulpflow.golden"),
        ("ulpflow.hdl.u", "ulpflow.golden.a"), ("ulpflow.cli", "ulpflow.hdl.u"),
        ("ulpflow.cli", "ulpflow.sim")}


def test_scanner_finds_module_level_cycle():
    s = synthetic(**mods(ulpflow__golden__a="from ulpflow.golden.b import y\nx = 1\n",
                         ulpflow__golden__b="import ulpflow.golden.a as a\ny = 2\n"))
    assert cycle_sets(s) == [["ulpflow.golden.a", "ulpflow.golden.b"]]
    assert "ulpflow.golden.a -> ulpflow.golden.b" in describe_cycle(cycles(s)[0])


def test_scanner_finds_function_level_relative_cycle():
    s = synthetic(**mods(
        ulpflow__sim__simulate="from . import bulk\n",
        ulpflow__sim__bulk="def run():\n    from .simulate import Port\n    return Port\n"))
    [path] = cycles(s)
    assert sorted({e.src for e in path}) == ["ulpflow.sim.bulk", "ulpflow.sim.simulate"]
    assert "in run" in describe_cycle(path)


def test_scanner_finds_long_cycle_and_self_import_is_none():
    s = synthetic(**mods(ulpflow__golden__a="from .b import x\n",
                         ulpflow__golden__b="from .c import x\n",
                         ulpflow__golden__c="from .a import x\nfrom . import c\n"))
    assert cycle_sets(s) == [["ulpflow.golden.a", "ulpflow.golden.b", "ulpflow.golden.c"]]


def test_scanner_reports_the_whole_component():
    s = synthetic(**mods(ulpflow__golden__a="from .b import x\ndef f():\n    from .c import y\n",
                         ulpflow__golden__b="from .a import x\n",
                         ulpflow__golden__c="from .a import x\n"))
    [path] = cycles(s)
    text = describe_cycle(path, s)
    assert "component: ulpflow.golden.a, ulpflow.golden.b, ulpflow.golden.c" in text
    assert "also: ulpflow.golden.a -> ulpflow.golden.c (ulpflow/golden/a.py:3, in f)" in text


def test_scanner_package_reexport_is_not_a_cycle_but_importing_the_package_back_is():
    reexport = mods(ulpflow__golden="from .a import f\nfrom .b import g\n",
                    ulpflow__golden__a="def f(): pass\n",
                    ulpflow__golden__b="from .a import f\ndef g(): pass\n")
    assert cycles(synthetic(**reexport)) == []
    # b takes f through its own package: golden/__init__ -> b -> golden/__init__
    back = dict(reexport, **{"ulpflow.golden.b": "from . import f\n"})
    assert cycle_sets(synthetic(**back)) == [["ulpflow.golden", "ulpflow.golden.b"]]
    back = dict(reexport, **{"ulpflow.golden.b": "def g():\n    from ulpflow.golden import f\n"})
    assert cycle_sets(synthetic(**back)) == [["ulpflow.golden", "ulpflow.golden.b"]]


def test_scanner_counts_packages_run_above_the_target():
    # hdl.u imports golden.a, which runs golden/__init__, which imports hdl.u: a real cycle
    s = synthetic(**mods(ulpflow__golden="from ulpflow.hdl import u\n",
                         ulpflow__golden__a="",
                         ulpflow__hdl__u="from ulpflow.golden.a import x\n"))
    assert ["ulpflow.golden", "ulpflow.hdl.u"] in cycle_sets(s)


def test_scanner_counts_type_checking_and_import_module():
    s = synthetic(**mods(
        ulpflow__golden__a="from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                           "    from ulpflow.hdl.u import U\n",
        ulpflow__golden__b="import importlib\nm = importlib.import_module('ulpflow.sim.x')\n",
        ulpflow__hdl__u="", ulpflow__sim__x=""))
    assert layer_violations(s) == [
        "ulpflow/golden/a.py:3: ulpflow.golden.a (golden) imports ulpflow.hdl.u (hdl)",
        "ulpflow/golden/b.py:2: ulpflow.golden.b (golden) imports ulpflow.sim.x (sim) "
        "[import_module]"]


def test_scanner_private_names():
    s = synthetic(**mods(
        ulpflow__hdl___common="def check(): pass\ndef _helper(): pass\n",
        ulpflow__hdl__rounding="from ._common import check\ndef _lzc(): pass\n",
        ulpflow__hdl__float_unit="from .rounding import RoundPack, _lzc\n",
        ulpflow__hdl__conv="from . import rounding as r\nx = r._lzc\ny = r.RoundPack\n",
        ulpflow__hdl__ok="from ulpflow import __version__\nfrom . import _common\n"
                         "def _mine(): pass\nz = _mine\n",
        ulpflow__sim__x="from ulpflow.hdl._common import check\n",
        ulpflow__sim__y="import ulpflow.hdl._common\n",
        ulpflow__sim__z="import ulpflow.hdl.rounding\nf = ulpflow.hdl.rounding._lzc\n"
                        "g = ulpflow.hdl.rounding.RoundPack\nh = ulpflow.hdl._common.check\n"))
    assert sorted(s.private) == [
        "ulpflow/hdl/conv.py:2: ulpflow.hdl.conv imports the private name '_lzc' from "
        "ulpflow.hdl.rounding",
        "ulpflow/hdl/float_unit.py:1: ulpflow.hdl.float_unit imports the private name '_lzc' "
        "from ulpflow.hdl.rounding",
        "ulpflow/sim/x.py:1: ulpflow.sim.x imports the private module ulpflow.hdl._common from "
        "outside ulpflow.hdl",
        "ulpflow/sim/y.py:1: ulpflow.sim.y imports the private module ulpflow.hdl._common from "
        "outside ulpflow.hdl",
        "ulpflow/sim/z.py:2: ulpflow.sim.z imports the private name '_lzc' from "
        "ulpflow.hdl.rounding",
        "ulpflow/sim/z.py:4: ulpflow.sim.z imports the private module ulpflow.hdl._common from "
        "outside ulpflow.hdl"]


def test_scanner_layers():
    s = synthetic(**mods(
        ulpflow__golden__a="",
        ulpflow__golden__b="from ulpflow import __version__\n",
        ulpflow__hdl__u="from ulpflow.golden import a\n",
        ulpflow__hdl__bad="from ulpflow.sim import x\n",
        ulpflow__sim__x="from ulpflow.hdl import u\nfrom ulpflow.golden import a\n",
        ulpflow__boards__b="from ulpflow.hdl import u\n",
        ulpflow__boards__bad="from ulpflow.sim import x\n",
        ulpflow__nets__c1="from ulpflow.golden import a\nfrom . import c2\n",
        ulpflow__nets__c2="from ulpflow.hdl import u\n",
        ulpflow__nets__c3="from .driver import run\n",
        ulpflow__nets__driver="from ulpflow.hdl import u\nfrom ulpflow.sim import x\n"
                              "from ulpflow.boards import b\nfrom ulpflow import cli\n",
        ulpflow__cli="from ulpflow.nets import driver\nfrom ulpflow.sim import x\n"))
    found = layer_violations(s)
    assert found == [
        "ulpflow/boards/bad.py:1: ulpflow.boards.bad (boards) imports ulpflow.sim.x (sim)",
        "ulpflow/golden/b.py:1: ulpflow.golden.b (golden) imports ulpflow (the top package)",
        "ulpflow/hdl/bad.py:1: ulpflow.hdl.bad (hdl) imports ulpflow.sim.x (sim)",
        "ulpflow/nets/c2.py:1: ulpflow.nets.c2 (nets) imports ulpflow.hdl.u (hdl)",
        "ulpflow/nets/c3.py:1: ulpflow.nets.c3 (nets) imports ulpflow.nets.driver "
        "(the nets driver)"]
    assert layer("ulpflow.nets.driver.sweep") == "driver" and layer("ulpflow.demo") == "top"


def test_scanner_resolves_relative_levels_and_rejects_escaping():
    s = synthetic(**mods(ulpflow__hdl__p__q="from ..u import x\nfrom ... import golden\n",
                         ulpflow__hdl__p="", ulpflow__hdl__u=""))
    assert {(e.src, e.dst) for e in s.edges} == {("ulpflow.hdl.p.q", "ulpflow.hdl.u"),
                                                 ("ulpflow.hdl.p.q", "ulpflow.golden")}
    with pytest.raises(ValueError, match="beyond the top-level package"):
        synthetic(**mods(ulpflow__golden__a="from .... import x\n"))


def test_package_sources_map_folders_per_pyproject():
    sources = {s.name: s for s in package_sources()}
    assert sources["ulpflow.golden"].path == "golden/__init__.py"
    assert sources["ulpflow.golden"].is_package
    assert sources["ulpflow.golden.formats"].path == "golden/formats.py"
    assert sources["ulpflow.hdl.signature"].path == "hdl/signature.py"
    assert sources["ulpflow.cli"].path == "ulpflow/cli.py"
    assert {"ulpflow", "ulpflow.golden", "ulpflow.hdl", "ulpflow.sim", "ulpflow.nets",
            "ulpflow.boards"} <= set(sources)
    # the scanner sees real imports of the package (e.g. hdl's signature on golden's formats)
    scan = scan_sources(sources.values())
    assert ("ulpflow.hdl.signature", "ulpflow.golden.formats") in {
        (e.src, e.dst) for e in scan.edges}
