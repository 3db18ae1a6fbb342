"""The build: generated gRPC code is fresh, and every source package is installed."""

from __future__ import annotations

import re
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


# The generators stamp their own version into the code; a newer grpcio-tools or protobuf with the
# same .proto makes the same messages and stubs, so the stamps are masked before comparing.
_VERSION_STAMPS = (
    re.compile(rb"^GRPC_GENERATED_VERSION = '[^']*'$", re.MULTILINE),
    re.compile(rb"^# Protobuf Python Version: .*$", re.MULTILINE),
    re.compile(rb"ValidateProtobufRuntimeVersion\([^)]*\)"),
)


def _without_version_stamps(code: bytes) -> bytes:
    for stamp in _VERSION_STAMPS:
        code = stamp.sub(b"<version>", code)
    return code


def test_version_stamps_are_all_that_is_masked() -> None:
    code = b"GRPC_GENERATED_VERSION = '1.85.1'\nclass RouterStub:\n    pass\n"
    assert _without_version_stamps(code) == b"<version>\nclass RouterStub:\n    pass\n"
    assert _without_version_stamps(code.replace(b"1.85.1", b"1.90.0")) == _without_version_stamps(code)
    assert _without_version_stamps(code.replace(b"RouterStub", b"OtherStub")) != _without_version_stamps(code)


def test_generated_grpc_code_is_fresh(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    from torouter.proto.generate import GENERATED, generate

    generate(tmp_path)
    for name in GENERATED:
        committed = _without_version_stamps((ROOT / "proto" / "v1" / name).read_bytes())
        fresh = _without_version_stamps((tmp_path / name).read_bytes())
        assert fresh == committed, f"proto/v1/{name} is stale: run `make proto`"


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
