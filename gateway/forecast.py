"""Demand forecasting: quantile forecasts per series, the model's spec, and reorder plans from them."""

from __future__ import annotations

from typing import Any

import numpy as np

from gateway.base import GatewayBase, typed
from gateway.errors import RequestError
from gateway.schemas import ForecastResponse, InventoryPlan, SeriesForecast, SeriesInput
from mining.contracts import ForecastResult, Quantiles
from mining.inventory import reorder_plan
from mining.models.forecast_rules import counts_only


def _quantiles(result: ForecastResult) -> Quantiles:
    if result.quantiles is None:  # Forecaster._forecast raises on every error first
        raise RuntimeError(f"demand runner gave neither quantiles nor an error: {result}")
    return result.quantiles


class Forecaster(GatewayBase):
    """The demand runner's forecasts, as answers and as inventory plans."""

    async def _forecast(self, series: list[SeriesInput]) -> list[ForecastResult]:
        results = typed(ForecastResult, await self.runners["demand"].to_async.predict([s.model_dump() for s in series]))
        errors = [f"series[{i}].{r.error}" for i, r in enumerate(results) if r.error is not None]
        if errors:
            raise RequestError(400, "; ".join(errors))
        return results

    async def forecast(self, series: list[SeriesInput]) -> ForecastResponse:
        results = await self._forecast(series)
        return ForecastResponse(
            results=[
                SeriesForecast(series_id=s.series_id, quantiles=_quantiles(r), model=r.model)
                for s, r in zip(series, results)
            ]
        )

    async def forecast_spec(self) -> dict[str, Any]:
        return await self.runners["demand"].to_async.spec()  # type: ignore[no-any-return]

    async def inventory_plan(
        self,
        series: SeriesInput,
        lead_time: int,
        service_level: float,
        on_hand: float,
        on_order: float,
        dependence: str,
    ) -> InventoryPlan:
        """Reorder quantity for ``lead_time`` periods at ``service_level`` (a probability), from
        the forecast's quantiles (units per period) of the first ``lead_time`` periods."""
        if series.horizon < lead_time:
            raise RequestError(
                400, f"series.horizon: must cover the lead time ({lead_time} periods), got {series.horizon}"
            )
        result = (await self._forecast([series]))[0]
        quantiles = _quantiles(result).model_dump()
        units = np.array([np.nan if u is None else u for u in series.units], dtype=np.float64)
        counts = bool(counts_only(units[None])[0])
        plan = reorder_plan(quantiles, lead_time, service_level, on_hand, on_order, dependence, counts)
        lead = {k: v[:lead_time] for k, v in quantiles.items()}
        return InventoryPlan(
            series_id=series.series_id,
            lead_time=lead_time,
            service_level=service_level,
            forecast=Quantiles(**lead),
            model=result.model,
            **plan,
        )
