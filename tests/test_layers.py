"""The layer order of docs/design.md, checked from the code's own imports.

Every ``import`` of a ``cmim_lab`` module -- at the top of a file or inside a function --
must point to a module of a lower layer, or of the same layer without forming a cycle; no
module may be missing from the declared order, and the longest chain of imports is at most
:data:`MAX_DEPTH` modules. The package ``__init__`` (version and lazy attributes only) is
layer 0.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cmim_lab"
MAX_DEPTH = 9

# One line per layer: a name ending in "/" is a folder (every module in it, its __init__
# included, sits on that layer); the others are single modules. The molecules/ plugin's
# modules slot into the core's layers one by one. Package __init__ files of cmim_lab and
# molecules (version, lazy attributes, the domain's literal names) are layer 0.
LAYERS = {
    0: ["cmim_lab", "molecules"],
    1: ["errors", "validation", "infra/"],
    2: ["registry", "methods"],
    3: ["data/", "augment", "molecules.smiles", "molecules.data"],
    4: ["posterior", "model", "likelihoods", "nets", "objectives", "molecules.nets"],
    5: ["config", "profiles"],
    6: ["checkpoint", "trainer", "distributed"],
    7: ["embeddings", "evaluation", "probes/", "cache/", "molecules.evaluation"],
    8: ["notebook/", "molecules.viz"],
    9: ["studies/"],
    10: ["cli/", "molecules.benchmark", "molecules.command", "molecules.plugin"],
}


def _declared(layers: dict) -> dict:
    """{module name: layer} of every module the declaration covers (folders expanded from disk)."""
    found = {}
    for layer, names in layers.items():
        for name in names:
            if name == "cmim_lab":
                found["cmim_lab"] = layer
            elif name.endswith("/"):
                folder = PACKAGE / name.rstrip("/")
                for path in sorted(folder.rglob("*.py")):
                    found[_module_name(path)] = layer
            else:
                found[f"cmim_lab.{name}"] = layer
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """cmim_lab modules imported anywhere in ``path`` (functions included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cmim_lab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("cmim_lab"):
                continue
            for alias in node.names:  # "from . import data" imports the module cmim_lab.data
                sub = f"{target}.{alias.name}"
                found.add(
                    sub
                    if (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                    or (PACKAGE.parent / sub.replace(".", "/")).is_dir()
                    else target
                )
    found.discard(name)
    return found


GRAPH = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}
LAYER_OF = _declared(LAYERS)


def test_every_module_has_a_declared_layer():
    missing = sorted(m for m in GRAPH if m not in LAYER_OF)
    assert not missing, f"modules without a layer in tests/test_layers.py: {missing}"
    stale = sorted(m for m in LAYER_OF if m not in GRAPH)
    assert not stale, f"declared modules that do not exist: {stale}"


def test_imports_point_down():
    up = [
        f"{m} (layer {LAYER_OF[m]}) imports {t} (layer {LAYER_OF[t]})"
        for m, targets in GRAPH.items()
        for t in targets
        if t in LAYER_OF and LAYER_OF[t] > LAYER_OF[m]
    ]
    assert not up, "imports pointing up the layer order:\n" + "\n".join(up)


def _cycle():
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(GRAPH.get(m, ())):
            if state.get(t) == "open":
                return stack[stack.index(t) :] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(GRAPH):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def depth(module: str, memo=None) -> int:
    """Length of the longest import chain starting at ``module`` (a leaf is 1)."""
    memo = {} if memo is None else memo
    if module not in memo:
        memo[module] = 1 + max((depth(t, memo) for t in GRAPH.get(module, ()) if t in GRAPH), default=0)
    return memo[module]


def test_import_chains_are_at_most_nine_deep():
    deepest = max(GRAPH, key=depth)
    assert depth(deepest) <= MAX_DEPTH, f"{deepest} sits on an import chain {depth(deepest)} modules deep"


def _code_words(path: Path) -> str:
    """Identifiers and string literals of a file's code, docstrings left out (lower case)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.alias):
            words.append(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            words.append(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append(node.value)
    return " ".join(words).lower()


# every module outside the molecules/ plugin, but the package __init__ (which lists the folders)
CORE = sorted(
    str(p.relative_to(PACKAGE))
    for p in PACKAGE.rglob("*.py")
    if p.relative_to(PACKAGE).parts[0] != "molecules" and p != PACKAGE / "__init__.py"
)


@pytest.mark.parametrize("module", CORE)
def test_the_core_names_no_domain(module):
    words = _code_words(PACKAGE / module)
    for word in ("molecule", "smiles", "gru", "vocab", "rdkit"):
        assert word not in words, f"cmim_lab/{module} names the molecule domain ({word!r}) in its code"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    assert "cmim_lab.studies.engine" in GRAPH["cmim_lab.studies.benchmark"]
    assert "cmim_lab.notebook.viz" in GRAPH["cmim_lab.studies.sweep"]  # imported inside run_batch_sweep


def test_every_cli_module_is_a_command_or_a_declared_helper():
    """One module per command: each name in ``cmim_lab.cli.COMMANDS`` is a module of cli/ with the
    command contract, every other module there is a declared helper, and the parser's package
    imports no command module by name (it loads them with importlib, which keeps the import chains
    of the commands off the parser's)."""
    from cmim_lab import cli

    modules = {p.stem for p in (PACKAGE / "cli").glob("*.py")} - {"__init__", "__main__"}
    assert len(set(cli.COMMANDS)) == len(cli.COMMANDS), f"a command named twice: {cli.COMMANDS}"
    assert not set(cli.COMMANDS) & set(cli.HELPERS), "a module is both a command and a helper"
    missing = sorted(set(cli.COMMANDS) - modules)
    assert not missing, f"commands in cmim_lab.cli.COMMANDS without a module in cmim_lab/cli/: {missing}"
    stray = sorted(modules - set(cli.COMMANDS) - set(cli.HELPERS))
    assert not stray, f"modules in cmim_lab/cli/ that are neither in COMMANDS nor in HELPERS: {stray}"
    static = sorted(t for t in GRAPH["cmim_lab.cli"] if t.removeprefix("cmim_lab.cli.") in cli.COMMANDS)
    assert not static, f"cmim_lab/cli/__init__.py imports command modules by name: {static}"
    for name in cli.COMMANDS:
        module = __import__(f"cmim_lab.cli.{name}", fromlist=["run"])
        for attr in ("HELP", "EXAMPLES", "add_arguments", "run"):
            assert hasattr(module, attr), f"cmim_lab/cli/{name}.py has no {attr}"
        assert module.__doc__ and module.EXAMPLES, f"cmim_lab/cli/{name}.py has no docstring or no examples"


def _named_references(path: Path) -> set[str]:
    """Modules named by ``"cmim_lab.module:attribute"`` strings in ``path``: the references the
    registry resolves at run time (dataset loaders, builders, plugin and core commands)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = re.fullmatch(r"(cmim_lab(?:\.\w+)*):\w+(?:\.\w+)*", node.value)
            if match:
                found.add(match.group(1))
    return found


def test_references_by_name_point_down_too():
    """A module may reach another by name (registry.resolve) only where it could import it: the
    import chain limit counts static imports, and these references must not hide an upward one."""
    up = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        for target in _named_references(path):
            assert target in LAYER_OF, f"{name} names {target!r}, which is not a declared module"
            if LAYER_OF[target] > LAYER_OF[name]:
                up.append(f"{name} (layer {LAYER_OF[name]}) names {target} (layer {LAYER_OF[target]})")
    assert not up, "references by name pointing up the layer order:\n" + "\n".join(up)
    assert "cmim_lab.studies.claims" in _named_references(PACKAGE / "cli" / "claims.py")
