"""The distribution ships every package of the tree, and the bundled resources."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_every_package_in_the_tree_is_declared():
    found = {str(p.parent.relative_to(ROOT)).replace("/", ".") for top in ("core", "desktop", "trainer")
             for p in (ROOT / top).rglob("__init__.py")}
    assert found <= _declared(), f"add to [tool.setuptools] packages: {sorted(found - _declared())}"


def test_resources_are_a_package_with_package_data():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert meta["package-dir"]["cbrec_resources"] == "resources"
    assert (ROOT / "resources" / "__init__.py").exists()
    # the data folders are listed as packages of their own, so setuptools ships them without its
    # "package would be ignored" warning
    assert {"cbrec_resources.models", "cbrec_resources.icons"} <= set(meta["packages"])
    assert {"*.pt", "*.json"} <= set(meta["package-data"]["cbrec_resources.models"])
