"""The naive peer: the same English sentiment model behind a minimal FastAPI app, one forward per
request, no batching, no gateway. The benchmark measures the service against it.

    python -m bench.naive_server --port 3100 [--model sentiment-en:latest] [--threads 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import bentoml
import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from mining.models.textclf import load_artifact


class Body(BaseModel):
    texts: list[str]


def make_app(tag: str) -> FastAPI:
    model = load_artifact(Path(bentoml.models.get(tag).path), torch.device("cpu"))
    app = FastAPI()

    @app.get("/readyz")
    def ready() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/sentiment")
    def sentiment(body: Body) -> dict[str, list[list[float]]]:
        # A plain `def` endpoint: FastAPI runs it in its thread pool, one request per forward.
        return {"probabilities": model.predict_proba(body.texts).tolist()}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--model", default="sentiment-en:latest")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    uvicorn.run(make_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
