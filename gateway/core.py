"""The gateway: its parts composed into one object whose async methods the transports call.

:class:`Gateway` holds no transport: ``service.py`` declares the HTTP routes and hands each call
here; gRPC and SageMaker's ``/invocations`` reach the same methods through
:func:`gateway.routes.dispatch`. The runners are anything with a ``bentoml.depends``-style call
surface (``await runner.to_async.predict(items)``, ``await runner.is_ready()``): separate services,
colocated ones (:mod:`gateway.colocated`), or fakes in tests. Each part has one job:
:mod:`gateway.text` (text analysis), :mod:`gateway.users` (events, profiles, trends),
:mod:`gateway.recommend` (recommendations, next items), :mod:`gateway.mine` (``/mine``),
:mod:`gateway.reply` (``/reply``) and
:mod:`gateway.forecast` (forecasts, inventory plans); refusals are raised as
:class:`gateway.errors.RequestError`.
"""

from __future__ import annotations

from gateway.forecast import Forecaster
from gateway.reply import ReplyEndpoint


class Gateway(ReplyEndpoint, Forecaster):
    """Every endpoint as a plain async method over runners and an event store.

    Args:
        runners: registry runner key (``sentiment``, ``classification``, ``ner``, ``aspects``,
            ``keywords``, ``recall``, ``sequence``, ``demand``) -> runner proxy.
        events: the event store (:class:`mining.events.EventsOff` for a deployment without one).
    """
