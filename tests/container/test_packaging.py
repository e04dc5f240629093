"""What pyproject.toml declares: every third-party import is a runtime dependency.

The runtime install (pip/pipx, the container image) is `dependencies` only: every module that
engine/, projections/, commands/ or simulator/ imports from outside the standard library is
declared there, except the optional extras' modules (psycopg: `postgres`, apprise: `apprise`),
which are imported only inside functions. Test tools stay in the `test` extra, and the opt-in
markers (chaos, container) are registered and left out of the default run.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.factories import REPO_ROOT

PACKAGES = ("engine", "projections", "commands", "simulator")
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
EXTRA_ONLY = {"psycopg": "postgres", "psycopg_pool": "postgres", "apprise": "apprise"}


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in requirements}


def third_party_imports() -> dict[str, set[tuple[str, bool]]]:
    """Top-level module -> {(file, imported at module level)} for every non-stdlib import."""
    found: dict[str, set[tuple[str, bool]]] = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            top_level = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    root = name.split(".")[0]
                    if root in sys.stdlib_module_names or root in PACKAGES or root == "__future__":
                        continue
                    rel = str(path.relative_to(REPO_ROOT))
                    found.setdefault(root, set()).add((rel, id(node) in top_level))
    return found


def test_every_third_party_import_is_a_declared_runtime_dependency() -> None:
    declared = requirement_names(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    dists = packages_distributions()
    missing = []
    for module, places in sorted(third_party_imports().items()):
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if module in EXTRA_ONLY:
            assert names & requirement_names(extras[EXTRA_ONLY[module]]), module
            eager = sorted(file for file, at_top in places if at_top)
            assert not eager, f"{module} (extra {EXTRA_ONLY[module]}) imported eagerly in {eager}"
        elif not names & declared:
            missing.append(f"{module} ({', '.join(sorted(f for f, _ in places))})")
    assert not missing, f"imported but not declared in dependencies: {missing}"


def test_the_runtime_install_holds_no_test_tool_and_no_database_server() -> None:
    runtime = requirement_names(PYPROJECT["project"]["dependencies"])
    assert not runtime & {"pytest", "pytest-xdist", "mypy", "ruff", "hypothesis", "psycopg",
                          "psycopg-pool", "ipykernel", "nbclient"}
    assert "ffmpeg-python" in runtime
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert requirement_names(extras["postgres"]) == {"psycopg", "psycopg-pool"}
    assert {"pytest", "mypy", "psycopg"} <= requirement_names(extras["test"])


def test_opt_in_markers_are_registered_and_deselected_by_default() -> None:
    options = PYPROJECT["tool"]["pytest"]["ini_options"]
    markers = {m.split(":")[0] for m in options["markers"]}
    assert {"chaos", "container"} <= markers
    assert "-m 'not chaos and not container'" in options["addopts"]
