"""The architecture, checked from the source so that it stays true (docs/architecture.md):
which package may import which, where each framework adapter lives, and that generic code
never names a use case."""

from __future__ import annotations

import ast

import pytest
from architecture import ROOT, generic_modules_naming_a_use_case, imports, modules

FOUNDATION = "pomona"  # schemas, workspace, config, data, the registry...
FRONT_DOOR = "pomona.app"  # ... and the CLI and demo, which sit above everything

# framework -> the modules (or packages, ending in ".") allowed to import it
ADAPTERS = {
    "mlflow": ("training.tracking", "training.registry", "training.pyfunc"),
    "feast": ("features.",),
    "bentoml": ("serving.service", "serving.build"),
    "boto3": ("serving.sagemaker.",),
    "botocore": ("serving.sagemaker.",),
    "sagemaker": ("serving.sagemaker.",),
    "typer": ("pomona.app.",),
}
# package -> the Pomona packages (or modules) it may import
LAYERS = {
    "pomona": ("pomona",),
    "features": ("pomona", "features"),
    "models": ("pomona", "models"),
    "training": ("pomona", "features", "models", "training"),
    "serving": ("pomona", "features", "models", "serving", "training.registry", "training.tracking"),
}
PRIVATE_FEAST = "features.feast_internals"


def _allowed(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or (a.endswith(".") and module.startswith(a)) or module.startswith(a + ".")
               for a in allowed)


def _pomona_imports(names: set[str]) -> set[str]:
    tops = {"pomona", "features", "models", "training", "serving"}
    return {n for n in names if n.split(".")[0] in tops}


@pytest.mark.parametrize("framework", sorted(ADAPTERS))
def test_each_framework_is_imported_by_its_adapter_only(framework):
    offenders = [m.name for m in modules()
                 if any(n == framework or n.startswith(framework + ".") for n in imports(m))
                 and not _allowed(m.name, ADAPTERS[framework])]
    assert not offenders, f"{framework} imported outside {ADAPTERS[framework]}: {offenders}"


def test_layers_import_only_what_is_below_them():
    offenders = []
    for m in modules():
        if m.name == FRONT_DOOR or m.name.startswith(FRONT_DOOR + "."):
            continue  # the CLI and the demo drive every package
        allowed = LAYERS[m.package]
        for name in _pomona_imports(imports(m)):
            top = name.split(".")[0]
            if top == "pomona" and (name == FRONT_DOOR or name.startswith(FRONT_DOOR + ".")):
                offenders.append(f"{m.name} -> {name} (the front door)")
            elif not any(name == a or name.startswith(a + ".") or top == a for a in allowed) \
                    and not (m.package == "serving" and name == "training"):
                offenders.append(f"{m.name} -> {name}")
    # ``from training import registry``: only the loader and tracking modules from serving
    for m in modules():
        if m.package != "serving":
            continue
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom) and node.module == "training":
                bad = [a.name for a in node.names if a.name not in ("registry", "tracking")]
                if bad:
                    offenders.append(f"{m.name} -> training.{bad}")
    assert not offenders, "imports against the layering:\n" + "\n".join(offenders)


def test_the_foundation_imports_no_package_above_it_not_even_lazily():
    above = ("features", "models", "training", "serving")
    offenders = [f"{m.name} -> {n}" for m in modules() if m.package == FOUNDATION
                 and not (m.name == FRONT_DOOR or m.name.startswith(FRONT_DOOR + "."))
                 for n in imports(m) if n.split(".")[0] in above]
    assert not offenders, offenders


def test_private_feast_apis_only_in_the_one_adapter_module():
    """No ``obj._private`` on anything but ``self``/``cls`` or this project's own modules,
    outside the module that names the Feast version it was written against."""
    ours = {m.name.rsplit(".", 1)[-1] for m in modules()} | {"features", "models", "training", "serving", "pomona"}
    offenders = []
    for m in modules():
        if m.name == PRIVATE_FEAST:
            continue
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                if isinstance(base, ast.Name) and (base.id in ("self", "cls") or base.id in ours):
                    continue
                offenders.append(f"{m.name}:{node.lineno} .{node.attr}")
    assert not offenders, "private attributes of other libraries' objects:\n" + "\n".join(offenders)
    text = (ROOT / "features" / "feast_internals.py").read_text()
    assert "Feast 0.67" in text  # the version it was written against


def test_generic_modules_name_no_use_case():
    found = generic_modules_naming_a_use_case()
    assert not found, f"generic modules that spell a use case's name: {found}"


def test_no_module_is_too_long_to_read():
    long = {str(m.path.relative_to(ROOT)): n for m in modules()
            if (n := len(m.path.read_text().splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"
