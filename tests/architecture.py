"""Reads the source tree and reports on its architecture: which modules import what, and which
generic modules name a use case. ``tests/test_architecture.py`` asserts on it; run it as a
script for the figures in ``docs/architecture.md``::

    .venv/bin/python tests/architecture.py
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pomona", "features", "models", "training", "serving")
REGISTRY = "pomona.usecases"  # the one module that lists the use cases


@dataclass(frozen=True)
class Module:
    name: str  # dotted
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


def modules() -> list[Module]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out.append(Module(".".join(parts), path, ast.parse(path.read_text(), str(path))))
    return out


def imports(mod: Module) -> set[str]:
    """Every module ``mod`` imports, at the top or inside a function, as a dotted name."""
    found: set[str] = set()
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def words(mod: Module) -> set[str]:
    """The identifiers, attribute names, imported names and string literals of ``mod``'s code
    (docstrings and comments are prose, not code, and are left out)."""
    skip = _docstrings(mod.tree)
    out: set[str] = set()
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.alias):
            out.add(node.name)
            out.add(node.asname or "")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            out.add(node.value)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def use_case_names() -> tuple[str, ...]:
    sys.path.insert(0, str(ROOT))
    from pomona.usecases import use_cases

    return use_cases()


def owned_modules() -> dict[str, str]:
    """Module -> the use case it belongs to: each use case's layer modules, the modules its
    importers live in, its own ``owned`` list, and helpers named after it (``_<name>...``)."""
    from pomona.usecases import get, layer_module

    out: dict[str, str] = {}
    for uc in use_case_names():
        spec = get(uc)
        for name in [*spec.modules.values(), *spec.owned]:
            out[name] = uc
        for ref in getattr(layer_module(uc, "data"), "IMPORTERS", {}).values():
            out[ref.partition(":")[0] if isinstance(ref, str) else ref.__module__] = uc
    for mod in modules():
        stem = mod.name.rsplit(".", 1)[-1].lstrip("_")
        for uc in use_case_names():
            if stem == uc or stem.startswith(f"{uc}_"):
                out.setdefault(mod.name, uc)
    return out


def naming(mod: Module, names: tuple[str, ...]) -> list[str]:
    """The use-case names that ``mod``'s code spells (as a word: ``fraud_v1`` and ``fraud``
    count, ``defraud`` does not)."""
    pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z])")
    hits = set()
    for word in words(mod):
        hits.update(m.group(1) for m in pattern.finditer(word))
    return sorted(hits)


def generic_modules() -> list[Module]:
    """Every module that belongs to no use case, the registry aside."""
    owned = owned_modules()
    return [m for m in modules() if m.name not in owned and m.name != REGISTRY]


def generic_modules_naming_a_use_case() -> dict[str, list[str]]:
    names = use_case_names()
    return {m.name: hits for m in generic_modules() if (hits := naming(m, names))}


def files_per_use_case(use_case: str) -> list[str]:
    """The files of a built-in use case: one module per layer, its config, its tests."""
    from pomona.usecases import get

    spec = get(use_case)
    files = [str(Path(*name.split(".")).with_suffix(".py")) for name in spec.modules.values()]
    files.append(str(spec.config.relative_to(ROOT)))
    files += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob(f"test_*{use_case}.py"))
    return files


def main() -> int:
    names = use_case_names()
    generic = generic_modules()
    print(f"{'use case':16s} files")
    for uc in names:
        files = files_per_use_case(uc)
        print(f"{uc:16s} {len(files)}: {', '.join(files)}")
    offenders = generic_modules_naming_a_use_case()
    print(f"\ngeneric modules (the registry aside): {len(generic)}; naming a use case: {len(offenders)}")
    for name, hits in offenders.items():
        print(f"  {name}: {', '.join(hits)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
