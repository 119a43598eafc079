"""Regenerate the Python gRPC stubs from ``demand_mining.proto``.

    python -m gateway.proto.generate            # writes demand_mining_pb2*.py next to the proto
    python -m gateway.proto.generate --check    # exit 1 when the checked-in stubs are stale

The stubs are checked in so serving needs no compiler; the pinned ``grpcio-tools`` makes the
output reproducible, and the test suite runs ``--check``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROTO = "gateway/proto/demand_mining.proto"
OUTPUTS = ("demand_mining_pb2.py", "demand_mining_pb2.pyi", "demand_mining_pb2_grpc.py")


def generate(out_dir: Path) -> list[Path]:
    """Compile the proto into ``out_dir/gateway/proto/``; returns the written files."""
    import grpc_tools
    from grpc_tools import protoc

    include = str(Path(grpc_tools.__file__).parent / "_proto")  # google/protobuf/*.proto
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(ROOT / PROTO),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")
    return [out_dir / "gateway" / "proto" / name for name in OUTPUTS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the checked-in stubs instead of writing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stale = []
        for path in generate(Path(tmp)):
            target = HERE / path.name
            if args.check:
                if not target.exists() or target.read_bytes() != path.read_bytes():
                    stale.append(path.name)
            else:
                target.write_bytes(path.read_bytes())
        if stale:
            print(f"stale gRPC stubs: {', '.join(stale)}; run python -m gateway.proto.generate", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
