"""The house rules the tree keeps: no module imports another at load time in a circle, none
imports another's private names, nothing outside methods/ names a method, no line of Python runs
past 120 characters, and pyflakes finds nothing (unused imports, undefined names)."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xprompt"
PYTHON_FOLDERS = [PACKAGE.parent / folder for folder in ("xprompt", "benchmarks", "tests", "pipelines")]
LINE_LIMIT = 120


def python_files() -> list[Path]:
    return sorted(p for folder in PYTHON_FOLDERS for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def test_no_module_level_import_cycles():
    trees = modules()
    graph = {}
    for name, tree in trees.items():
        targets = set()
        for node in tree.body:  # what importing the module imports
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xprompt"):
                targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("xprompt")}
        graph[name] = {t for t in targets if t in trees and t != name}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_private_names_imported_across_modules():
    offending = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xprompt"):
                offending += [f"{name}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offending, offending


def test_only_methods_name_methods():
    """Pipeline, training, results, export and predict talk to methods through the protocol and the
    registry. (prompts/library.py is a library of soft prompts: it probes a new task with a soft
    prompt by design, and reads every method's input prompt through the registry's hooks; the
    pipeline's default method is a product choice.)"""
    names = re.compile(r"[\"'](uniprompt|finetune|discrete|soft|ptuning|deep|prefix|lora|probe)[\"']")
    offending = []
    allowed = {PACKAGE / "prompts" / "library.py", PACKAGE / "pipeline" / "config.py"}
    for folder in ("pipeline", "results", "prompts", "training"):
        for path in set((PACKAGE / folder).rglob("*.py")) - allowed:
            offending += [f"{path.relative_to(PACKAGE)}:{i}" for i, line in
                          enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if names.search(line)]
    assert not offending, offending


def test_no_line_runs_past_the_limit():
    long = [f"{path.relative_to(PACKAGE.parent)}:{i} ({len(line)} characters)" for path in python_files()
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if len(line) > LINE_LIMIT]
    assert not long, f"lines over {LINE_LIMIT} characters: {long}"


def test_pyflakes_finds_nothing():
    from pyflakes.api import checkPath
    from pyflakes.reporter import Reporter

    out = io.StringIO()
    found = sum(checkPath(str(path), Reporter(out, out)) for path in python_files())
    assert found == 0, out.getvalue()
