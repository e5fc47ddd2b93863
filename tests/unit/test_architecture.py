"""The layering of docs/architecture.md, read from the code's own imports (every import, also
inside functions and `TYPE_CHECKING` blocks): each package imports only the packages its row
allows, the online packages never an offline one, and only the artifacts layer knows where a
build keeps what."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sparrow"
KERNEL = {"sparrow", "errors", "atomic", "java", "plugins", "config"}
OFFLINE = {"data", "features", "embedding", "index", "models", "evaluation", "training"}
ONLINE = {"store", "stream", "serving", "web"}
ONLINE_FEATURES = "sparrow.features.online"  # the one module of `features` online code uses
# package -> the packages it may import (besides itself); the table of docs/architecture.md
ALLOWED: dict[str, set[str]] = {
    "sparrow": set(),
    "errors": set(),
    "atomic": {"errors"},
    "java": {"errors"},
    "plugins": {"errors"},
    "config": {"errors", "plugins"},
    "artifacts": KERNEL,
    "data": KERNEL | {"artifacts"},
    "features": KERNEL | {"artifacts", "data"},
    "index": KERNEL,
    "embedding": KERNEL | {"artifacts", "index", "features"},
    "models": KERNEL | {"artifacts"},
    "evaluation": KERNEL | {"artifacts", "models"},
    "training": KERNEL | {"artifacts", "models", "evaluation"},
    "orchestrator": KERNEL | {"artifacts"} | OFFLINE,
    "store": KERNEL | {"artifacts", "features"},
    "stream": KERNEL | {"artifacts", "features", "store"},
    "web": KERNEL,
    "serving": KERNEL | {"artifacts", "features", "index", "store", "stream", "web"},
    "cli": KERNEL | {"artifacts", "orchestrator"} | OFFLINE | ONLINE,
}
BUILD_FOLDERS = {"catalog", "samples", "features", "embeddings", "models", "reports", "events"}
BUILD_FILES = {"manifest.json", "stages.json"}
LAYOUT = SRC / "artifacts" / "layout.py"


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def package_of(path: Path) -> str:
    """`src/sparrow/serving/routes/site.py` -> "serving"; `src/sparrow/config.py` -> "config"."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return "sparrow" if parts == ("__init__",) else parts[0]


def imported(tree: ast.AST) -> list[str]:
    """Every sparrow module a file imports ("sparrow.x.y"), names of `from package import
    module` included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "sparrow"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "sparrow":
                continue
            package = SRC.parent.joinpath(*node.module.split(".")).is_dir()
            found += [f"{node.module}.{a.name}" for a in node.names] if package else [node.module]
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path: Path) -> None:
    package = package_of(path)
    assert package in ALLOWED, f"{package} has no row in the layer table"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for name in imported(tree):
        parts = name.split(".")
        target = parts[1] if len(parts) > 1 else "sparrow"
        if target == package:
            continue
        assert target in ALLOWED[package], f"{package} may not import {name}"
        if package in ONLINE and target == "features":
            assert name == ONLINE_FEATURES, f"online {package} may not import {name}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_only_the_layout_knows_the_build_directory(path: Path) -> None:
    if path == LAYOUT:
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in BUILD_FILES:
            pytest.fail(f"{path.name}:{node.lineno} names {node.value}: use BuildDir")
        joined = None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            joined = node.right
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "joinpath":
            joined = node.args[0] if node.args else None
        if isinstance(joined, ast.Constant) and joined.value in BUILD_FOLDERS:
            pytest.fail(f"{path.name}:{node.lineno} joins {joined.value!r} by hand: use BuildDir")
        if isinstance(node, ast.JoinedStr) and any(
            isinstance(part, ast.Constant) and part.value.startswith(f"/{folder}/")
            for part in node.values
            for folder in BUILD_FOLDERS
        ):
            pytest.fail(f"{path.name}:{node.lineno} writes a build path by hand: use BuildDir")


def test_the_rules_can_fail(tmp_path: Path) -> None:
    """The checks above see imports in functions and build paths joined by hand."""
    code = "def f(build):\n    from sparrow.training import loop\n    return build / 'samples'\n"
    tree = ast.parse(code)
    assert imported(tree) == ["sparrow.training.loop"]
    assert any(
        isinstance(n, ast.BinOp) and getattr(n.right, "value", None) in BUILD_FOLDERS
        for n in ast.walk(tree)
    )
