"""GPU check: every runner on a CUDA device, in process and served, in the tables of ``python -m bench``.

    python -m bench.gpu [--seconds 2] [--out reports/bench/gpu.json]

Where no CUDA device exists it says so and exits 0: nothing to measure. On a GPU the runners pick
``cuda`` themselves (``mining.artifacts.pick_device``); this script checks that they did before
measuring, so a CPU fallback cannot pass for a GPU number.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.run import ROOT, in_process, serve, served
from bench.servers import ServerGroup


def on_cuda() -> dict[str, str]:
    """Device of each torch model's first parameter, loaded as the service loads them (the
    runners of the registry whose models have a torch ``net``)."""
    from mining.registry import RUNNERS
    from runners import service_of

    devices = {}
    for spec in RUNNERS:
        runner = service_of(spec.key).inner()
        for name, model in runner.models.items():
            net = getattr(model, "net", None)
            if net is not None:
                devices[name] = str(next(net.parameters()).device)
    return devices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured window per cell")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "gpu.json")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "no CUDA device here (torch.cuda.is_available() is False): nothing to measure on a GPU; "
            "`python -m bench` measures the CPU"
        )
        return 0
    devices = on_cuda()
    off_gpu = {k: v for k, v in devices.items() if not v.startswith("cuda")}
    if off_gpu:
        print(f"runners did not load onto the GPU: {off_gpu}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "models": devices}
    print(f"GPU: {result['device']}; models on {sorted(set(devices.values()))}")
    result["in_process"] = in_process(args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ServerGroup() as servers:
        _, url = serve(servers, True, args.out.parent, args.out.parent / "gpu-events.sqlite3")
        result["served"] = served({"on (GPU)": url}, args.seconds)["on (GPU)"]
    result["max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({"device": result["device"], "max_memory_allocated_mb": result["max_memory_allocated_mb"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
