"""The build: generated gRPC code is fresh, and every source package is installed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {
    "cli": "torouter.cli",
    "edge": "torouter.edge",
    "router": "torouter.router",
    "plugins": "torouter.plugins",
    "proto": "torouter.proto",
}


def test_generated_grpc_code_is_fresh(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    from torouter.proto.generate import GENERATED, generate

    generate(tmp_path)
    for name in GENERATED:
        committed = (ROOT / "proto" / "v1" / name).read_bytes()
        assert (tmp_path / name).read_bytes() == committed, f"proto/v1/{name} is stale: run `make proto`"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert config["tool"]["setuptools"]["package-dir"] == {v: k for k, v in MAPPED.items()}
    found = set()
    for folder, package in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found == listed
