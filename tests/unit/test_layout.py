"""The package's layout shows the data's path: a few modules on top, one subpackage per stage,
imports one way (a stage imports only the stages below it) and no import cycle. Type-only
imports (under TYPE_CHECKING) are left out: they cost nothing at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_seccomp

PACKAGE = Path(pytest_seccomp.__file__).parent
# lowest first: a module may import its own stage and those before it in this list
STAGES = (
    {"errors", "modes", "version"},
    {"profiles"},  # the vocabulary every stage speaks: profiles, syscalls, engine defaults
    {"interception", "tracing"},  # what clients ask the engine; what the kernel saw
    {"recording"},  # the tracer's counts per container and test
    {"reporting", "coverage", "deploy"},  # what is made of a recording
    {"sessions"},  # the two verbs, which drive all of the above
    {"plugin", "cli", "fixture", "__init__", "__main__"},  # the entry points
)
MAX_TOP_LEVEL_MODULES = 12


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"] = path
    return found


def _runtime_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports at run time (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    package = name.split(".") if path.name == "__init__.py" and name != "__init__" else \
        name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if id(node) in type_only or not isinstance(node, ast.ImportFrom):
            if isinstance(node, ast.Import) and id(node) not in type_only:
                out |= {a.name.removeprefix("pytest_seccomp.") for a in node.names
                        if a.name.startswith("pytest_seccomp.")}
            continue
        if node.level:
            base = package[:len(package) - node.level + 1]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
        elif (node.module or "").startswith("pytest_seccomp"):
            target = node.module.removeprefix("pytest_seccomp").lstrip(".")  # type: ignore[union-attr]
        else:
            continue
        for alias in node.names:
            child = f"{target}.{alias.name}" if target else alias.name
            out.add(child if child in modules else target or "__init__")
    return {m for m in out if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _runtime_imports(name, path, modules) for name, path in modules.items()}


def _stage(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, stage in enumerate(STAGES) if top in stage)


def test_no_module_imports_itself_back_through_others():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_every_stage_imports_only_the_stages_below_it():
    wrong = [f"{module} imports {target}" for module, targets in sorted(_graph().items())
             for target in sorted(targets) if _stage(target) > _stage(module)]
    assert wrong == []


def test_the_top_level_holds_few_modules_and_a_subpackage_per_stage():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    listed = set().union(*STAGES)
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert set(top) | packages <= listed, (set(top) | packages) - listed
