"""The package's shape: imports run one way through declared layers (function-local imports too),
no module imports another's private name, no file over 500 lines and no function over 80.

The layers, lowest first (a module may import its own layer and the ones below, never above):

0. ``errors``, ``registry``, ``version``: nothing of ours below them
1. ``io``, ``plots``: files that survive a crash; every PNG writer
2. ``spec``: the one home of every option and default
3. ``plasticity``: the learning rules (Hebbian) and pruning criteria that models are built from
4. ``data``, ``models``: sources and inputs; one file per family
5. ``train``, ``summary``, ``trackers``: the loop and what watches it
6. ``trust``, ``export``: calibration, OOD, explanations, intervals; ONNX and plain PyTorch
7. ``rundir``, ``runfiles``: the run folder's API; every file read from it, validated
8. ``experiment``, ``finetune``, ``generate``: a spec trained into a folder (from a parent run's weights); text
   from a language model
9. ``stages``: one module per stage after training
10. ``see`` (report, pictures, locale): the report
11. ``pipeline``: preflight -> training -> stages -> report
12. ``cli``, ``see.server``, ``sklearn``, the package itself: entry points
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "neuroplast"
LAYERS: list[tuple[str, ...]] = [
    ("neuroplast.errors", "neuroplast.registry", "neuroplast.version"),
    ("neuroplast.io", "neuroplast.plots"),
    ("neuroplast.spec",),
    ("neuroplast.plasticity",),
    ("neuroplast.data", "neuroplast.models"),
    ("neuroplast.train", "neuroplast.summary", "neuroplast.trackers"),
    ("neuroplast.trust", "neuroplast.export"),
    ("neuroplast.rundir", "neuroplast.runfiles"),
    ("neuroplast.experiment", "neuroplast.finetune", "neuroplast.generate"),
    ("neuroplast.stages",),
    ("neuroplast.see",),
    ("neuroplast.pipeline",),
    ("neuroplast.cli", "neuroplast.see.server", "neuroplast.sklearn", "neuroplast.__main__", "neuroplast"),
]
MAX_FILE_LINES, MAX_FUNCTION_LINES = 500, 80


def layer_of(module: str) -> int:
    """The layer of a module: the longest declared prefix that names it or a package above it."""
    best, found = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, found = len(name), i
    if found is None:
        raise AssertionError(f"{module} is in no declared layer; add it to LAYERS in {__file__}.")
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import of ours, at any depth."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "neuroplast"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if base.split(".")[0] != "neuroplast":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, "", node.lineno) if sub in known else (base, alias.name, node.lineno))
    return found


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def upward_imports(modules: dict[str, str]) -> list[str]:
    """``importer:line imports target (layer a -> b)`` for each import against the layer order."""
    known = set(modules)
    bad = []
    for module, source in modules.items():
        is_package = source.startswith("#package") or module == "neuroplast"
        for target, _, line in imports(source, module, is_package, known):
            if layer_of(target) > layer_of(module):
                bad.append(f"{module}:{line} imports {target} (layer {layer_of(module)} -> {layer_of(target)})")
    return bad


def _sources() -> dict[str, str]:
    return {m: ("#package\n" if p.name == "__init__.py" else "") + p.read_text() for m, p in package_modules().items()}


def test_every_module_is_in_a_declared_layer() -> None:
    for module in package_modules():
        layer_of(module)


def test_imports_run_one_way_through_the_layers() -> None:
    bad = upward_imports(_sources())
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_the_check_catches_an_upward_import_even_inside_a_function() -> None:
    sources = _sources()
    sources["neuroplast.train.loop"] += "\n\ndef _late():\n    from neuroplast.rundir import load\n"
    assert any(b.startswith("neuroplast.train.loop:") and "neuroplast.rundir" in b for b in upward_imports(sources))


def test_no_import_cycle_among_modules() -> None:
    sources, known = _sources(), set(package_modules())
    graph = {m: {t for t, _, _ in imports(s, m, s.startswith("#package") or m == "neuroplast", known)
                 if t in known and t != m} for m, s in sources.items()}
    # a package's __init__ re-exporting its submodules is not a cycle with them: drop parent edges
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if seen.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in seen:
                visit(t)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m)


def test_no_module_imports_another_modules_private_name() -> None:
    known = set(package_modules())
    bad = [f"{m}:{line} imports {target}.{name}" for m, s in _sources().items()
           for target, name, line in imports(s, m, s.startswith("#package") or m == "neuroplast", known)
           if (name.startswith("_") and not name.startswith("__")) or
           any(part.startswith("_") and not part.startswith("__") for part in target.split("."))]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_functions_stay_small(path: Path) -> None:
    source = path.read_text()
    assert source.count("\n") <= MAX_FILE_LINES, f"{path} has {source.count(chr(10))} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name} has {length} lines"


def test_tests_mirror_the_package() -> None:
    """``tests/<package>/test_<module>[_more].py`` or ``tests/test_<module>[_more].py``, for a module that
    exists, so each module's tests are found by its name (this file tests the whole package)."""
    tests = Path(__file__).resolve().parent
    known = set(package_modules())
    stray = []
    for path in sorted(tests.rglob("test_*.py")):
        if path == Path(__file__).resolve():
            continue
        package = ".".join(("neuroplast", *path.parent.relative_to(tests).parts))
        words = path.stem.removeprefix("test_").split("_")
        names = {f"{package}.{'_'.join(words[:i])}" for i in range(1, len(words) + 1)}
        if not names & known:
            stray.append(str(path.relative_to(tests)))
    assert not stray, f"test files named after no module: {stray}"
