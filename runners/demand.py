"""Demand runner: quantile forecasts for series sent with the request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import ForecastResult
from runners.base import DEPENDENCY_CONFIG, RunnerBase, batching


@bentoml.service(name="DemandRunner", threads=4, **DEPENDENCY_CONFIG)
class DemandRunner(RunnerBase):
    """Forecasts from the ``demand`` model: its network, or the baseline that replaced it."""

    RUNNER = "demand"

    def load(self, path: Path) -> Any:
        from mining.models.demand import load_forecaster

        return load_forecaster(path, self.device)

    @property
    def model(self) -> Any:
        return self.models["demand"]

    @property
    def answered_by(self) -> str:
        """The store tag, with the baseline in brackets where it answers (the network did not beat it)."""
        tag = self.tags["demand"]
        return tag if self.model.name == "network" else f"{tag} ({self.model.name})"

    def warm_up(self) -> None:
        from mining.models.demand import MIN_OBSERVED

        n, h = max(MIN_OBSERVED, 8), 1
        self.predict(
            [
                {
                    "units": [1.0] * n,
                    "horizon": h,
                    "covariates": {c: [0.0] * n for c in self.model.covariates},
                    "future_covariates": {c: [0.0] * h for c in self.model.covariates},
                }
            ]
        )

    @bentoml.api(**batching(256, 1000))
    def predict(self, requests: list[dict[str, Any]]) -> list[ForecastResult]:
        """Batched forecasts: one request dict per series in (see
        :func:`mining.models.demand.forecast_many`), one result per series out."""
        from mining.models.demand import forecast_many

        return [ForecastResult(**r, model=self.answered_by) for r in forecast_many(self.model, requests)]

    @bentoml.api
    def spec(self) -> dict[str, Any]:
        """What the model expects: covariate names, history and horizon lengths, quantiles."""
        from mining.models.demand import MIN_OBSERVED, QUANTILES

        return {
            "covariates": self.model.covariates,
            "history": self.model.history,
            "horizon": self.model.horizon,
            "quantiles": list(QUANTILES),
            "min_observed": MIN_OBSERVED,
            "model": self.answered_by,
            "forecaster": self.model.name,
        }
