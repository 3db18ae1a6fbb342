"""Regenerates the gRPC code in ``proto/v1`` from ``proto/v1/router.proto`` beside it.

Run ``python -m torouter.proto.generate`` (``make proto``). The test suite calls
:func:`generate` into a temporary folder and fails when the committed files differ.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
SOURCE = PROTO_ROOT / "v1" / "router.proto"
# protoc names the file by its path under the include root: the descriptor keeps "torouter/v1/…".
PROTO_NAME = "torouter/v1/router.proto"
GENERATED = ("router_pb2.py", "router_pb2.pyi", "router_pb2_grpc.py", "router_pb2_grpc.pyi")
_ABSOLUTE_IMPORT = re.compile(rb"^from torouter\.v1 import (\w+)", re.MULTILINE)
_ABSOLUTE_MODULE = re.compile(rb"torouter\.v1\.router_pb2\b")


def _tool(name: str) -> str:
    """A protoc plugin installed beside this Python (the venv's bin), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def generate(out_dir: Path) -> None:
    """Writes the generated modules into ``out_dir``, with imports made package-relative."""
    from grpc_tools import protoc  # dev dependency, needed only here

    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as include:
        source = Path(include) / PROTO_NAME
        source.parent.mkdir(parents=True)
        shutil.copyfile(SOURCE, source)
        args = [
            "protoc",
            f"-I{include}",
            f"--plugin=protoc-gen-mypy={_tool('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_tool('protoc-gen-mypy_grpc')}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_out={tmp}",
            f"--mypy_grpc_out={tmp}",
            str(source),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in GENERATED:
            data = (Path(tmp) / "torouter" / "v1" / name).read_bytes()
            data = _ABSOLUTE_IMPORT.sub(rb"from . import \1", data)
            if name.endswith(".pyi"):
                data = _ABSOLUTE_MODULE.sub(b"router_pb2", data)
            (out_dir / name).write_bytes(data)


def main() -> int:
    generate(PROTO_ROOT / "v1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
