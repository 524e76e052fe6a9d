"""The house rules of ``engine/``: no Gradio anywhere in it, no import cycle between its
modules, and every ``python -m engine.<verb>`` that the README and docs name answers ``--help``."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def engine_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every engine module ``path`` imports, at any depth of the file (function-level too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[:len(up) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            # ``from pkg import mod`` names a module when pkg.mod is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def test_engine_never_imports_gradio():
    offenders = [str(p.relative_to(ROOT)) for p in ENGINE.rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+gradio\b", p.read_text(), re.M)]
    assert not offenders, f"engine/ must not import Gradio: {offenders}"
    # and nothing it imports pulls Gradio in behind its back
    code = ("import importlib, pkgutil, sys, engine\n"
            "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
            "    importlib.import_module(m.name)\n"
            "print('gradio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_engine_has_no_import_cycle():
    mods = engine_modules()
    graph = {name: imports_of(name, path, set(mods)) for name, path in mods.items()}
    assert graph["engine.training.train"], "the import graph came out empty: the parser is broken"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def documented_verbs() -> list[str]:
    texts = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    verbs = set()
    for path in texts:
        if path.exists():
            verbs.update(re.findall(r"python3? -m engine\.(\w+)", path.read_text()))
    return sorted(verbs)


def test_docs_name_the_commands():
    assert {"train", "evaluate", "analyze", "flags"} <= set(documented_verbs())


@pytest.mark.parametrize("verb", documented_verbs())
def test_every_documented_command_answers_help(verb):
    r = subprocess.run([sys.executable, "-m", f"engine.{verb}", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"python -m engine.{verb} --help failed:\n{r.stderr[-2000:]}"
    assert "usage:" in r.stdout.lower()
