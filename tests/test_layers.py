"""The import layers, read from the source (every ``import``, lazy ones inside functions included).

From the bottom up:

- ``configs`` (the shipped YAML files and the one resolver of a config by name) imports nothing of ours.
- ``clsp`` (the base: data model, style vocabulary and measurement, audio, model, losses, synth, augment,
  train, and the CLI of those) imports no stage package (``annotate``, ``verify``, ``eval``). ``schedulers``
  (the training schedules: ScaledAdam + Eden, the stage-2 task sampler) sits beside it and is imported by
  ``clsp.train`` alone; ``clsp.data``, ``clsp.style`` and ``clsp.model`` import neither a stage nor ``schedulers``.
- ``schedulers`` imports no stage package.
- The stages: ``annotate`` imports neither ``verify`` nor ``eval``; ``verify`` may import ``annotate`` (its
  engines and prompts) but not ``eval``; ``eval`` imports neither ``annotate`` nor ``verify``.
- Orchestration, which may import every stage and is imported by nothing: ``recipes`` (the demo and its report).
  ``clsp.cli`` finds the stage CLIs (and the demo's) as ``clsp.commands`` entry points, not by importing them.
- Test support, ``annotate.testing`` (shipped, imported by tests and benchmarks), is imported by no module
  outside it.

``importlib.import_module`` and entry points (the CLI plugins, the engine registry) are not import edges here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("configs", "clsp", "schedulers", "annotate", "verify", "eval", "recipes")
STAGES = {"annotate", "verify", "eval"}
ORCHESTRATION = {"recipes"}
TESTING = "annotate.testing"
# Modules that break a rule below, each with why it is allowed for now. Empty: keep it that way.
KNOWN_EXCEPTIONS: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (relative imports resolved against its package)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)  # `from clsp import demo`
    return out


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            graph[module_name(path)] = imported_modules(path)
    return graph


GRAPH = import_graph()


def top(module: str) -> str:
    return module.split(".")[0]


def violations(rule) -> list[str]:
    """``module -> imported`` edges that ``rule(module, imported)`` forbids, less the known exceptions."""
    found = []
    for module, imports in GRAPH.items():
        for imported in sorted(imports):
            if top(imported) in PACKAGES and rule(module, imported) and module not in KNOWN_EXCEPTIONS:
                found.append(f"{module} -> {imported}")
    return found


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_sees_real_imports():
    # the rules below could pass on an empty graph: check the walker finds edges known to exist
    assert "schedulers.optim" in GRAPH["clsp.train.trainer"]
    assert "annotate.engines.base" in GRAPH["verify.config"]
    assert "eval.grounding" in GRAPH["recipes.demo"]  # a lazy import inside a function
    assert "configs" in GRAPH["annotate.prompts"]
    assert "annotate.testing.fault_server" in GRAPH["annotate.testing.fault_judge"]
    assert len(GRAPH) > 100


@pytest.mark.parametrize("rule_name, rule", [
    ("configs imports nothing of ours", lambda m, i: top(m) == "configs" and top(i) != "configs"),
    ("the base package imports no stage", lambda m, i: top(m) == "clsp" and top(i) in STAGES),
    ("only clsp.train imports schedulers",
     lambda m, i: top(m) == "clsp" and top(i) == "schedulers" and not within(m, "clsp.train")),
    ("clsp.data, clsp.style and clsp.model import no stage and no schedulers",
     lambda m, i: within(m, "clsp.data", "clsp.style", "clsp.model") and top(i) in STAGES | {"schedulers"}),
    ("schedulers imports no stage", lambda m, i: top(m) == "schedulers" and top(i) in STAGES),
    ("annotate imports neither verify nor eval", lambda m, i: top(m) == "annotate" and top(i) in {"verify", "eval"}),
    ("verify does not import eval", lambda m, i: top(m) == "verify" and top(i) == "eval"),
    ("eval imports neither annotate nor verify", lambda m, i: top(m) == "eval" and top(i) in {"annotate", "verify"}),
    ("nothing but orchestration imports orchestration",
     lambda m, i: not within(m, *ORCHESTRATION) and within(i, *ORCHESTRATION)),
    ("no library module imports the test support",
     lambda m, i: within(i, TESTING) and not within(m, TESTING)),
])
def test_import_layers(rule_name, rule):
    assert violations(rule) == [], rule_name
