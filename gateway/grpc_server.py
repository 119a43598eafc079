"""The gRPC front door: every method of ``demand_mining.proto`` turned into a JSON-shaped payload
and handed to the same dispatcher the HTTP endpoints use, so fields, limits and messages agree.

BentoML does not serve gRPC for new-style services, so the gateway starts this ``grpc.aio`` server
in its own worker process; with several workers each binds the port with ``SO_REUSEPORT`` and the
kernel spreads connections. The standard health service (``grpc.health.v1``) and server
reflection are registered beside it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.errors import GRPC_CODES, RequestError
from gateway.middleware import UNAUTHORIZED, key_allowed, presented_key
from gateway.proto import demand_mining_pb2 as pb

SERVICE = "demandmining.v1.DemandMining"
log = logging.getLogger(__name__)

# A call that takes longer is answered DEADLINE_EXCEEDED whatever deadline the client set (or
# none): the HTTP side's request timeout.
CALL_TIMEOUT_S = 60.0

Dispatch = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


# Repeated fields whose HTTP form is nullable (null: no restriction). proto3 sends an empty list
# and an unset one alike, so here an empty one is unset; HTTP and /invocations keep [] as [].
UNSET_WHEN_EMPTY = frozenset({"demandmining.v1.UserRequest.allow"})


def _payload(message: Message) -> dict[str, Any]:
    """``message`` as the JSON its HTTP endpoint takes. Empty lists and unset plain fields are
    sent as [] / "" / 0, so the schema judges them as it judges the same JSON (an empty texts list
    is "too short", not "missing"); unset optional fields and the empty fields of
    :data:`UNSET_WHEN_EMPTY` stay absent and take the HTTP default."""
    payload = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _drop_unset(message, payload)
    return payload


def _drop_unset(message: Message, payload: dict[str, Any]) -> None:
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.full_name in UNSET_WHEN_EMPTY and not value:
            payload.pop(field.name, None)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            if field.is_repeated:
                for sub, sub_payload in zip(value, payload.get(field.name, [])):
                    _drop_unset(sub, sub_payload)
            elif message.HasField(field.name) and isinstance(payload.get(field.name), dict):
                _drop_unset(value, payload[field.name])


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _handler(
    rpc: str, request_cls: Any, response_cls: Any, dispatch: Dispatch, api_keys: frozenset[str], timeout_s: float
) -> grpc.RpcMethodHandler:
    async def call(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        metadata = {k.lower(): v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        if not key_allowed(presented_key(metadata), api_keys):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHORIZED)
        # Decoded here, not by grpc's deserializer hook: a message that does not decode (wrong
        # type, truncated, a string field that is not UTF-8) is the client's error, and grpc
        # would answer it with its own exception text.
        try:
            request = request_cls.FromString(raw)
        except DecodeError:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"request: not a valid {request_cls.DESCRIPTOR.full_name} message"
            )
        payload = _payload(request)
        try:
            result = await asyncio.wait_for(dispatch(rpc, payload), timeout_s)
            # JSON null has no proto form: an absent optional field is how a message says it.
            return json_format.ParseDict(_without_nulls(result), response_cls(), ignore_unknown_fields=True)
        except RequestError as e:
            await context.abort(getattr(grpc.StatusCode, GRPC_CODES.get(e.status, "UNKNOWN")), e.message)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"{rpc}: no answer within {timeout_s:g} s")
        except Exception:
            # Never an exception's text to a client: logged here, a fixed message there.
            log.exception("gRPC %s failed", rpc)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")

    return grpc.unary_unary_rpc_method_handler(
        call, request_deserializer=None, response_serializer=response_cls.SerializeToString
    )


def build_server(
    port: int,
    dispatch: Dispatch,
    api_keys: frozenset[str] = frozenset(),
    host: str = "127.0.0.1",
    max_message_bytes: int = 4 << 20,
    timeout_s: float = CALL_TIMEOUT_S,
) -> tuple[grpc.aio.Server, health.HealthServicer]:
    """A ``grpc.aio`` server (not started) on ``host:port`` serving every rpc of the proto through
    ``dispatch(rpc_name, payload) -> response dict``; returns it with its health servicer (set
    to SERVING by the caller once the models are ready). A request message over
    ``max_message_bytes`` (HTTP's body limit) is refused with RESOURCE_EXHAUSTED; a call running
    past ``timeout_s`` is answered DEADLINE_EXCEEDED."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", max_message_bytes)])
    methods = pb.DESCRIPTOR.services_by_name["DemandMining"].methods
    handlers = {
        m.name: _handler(
            m.name, getattr(pb, m.input_type.name), getattr(pb, m.output_type.name), dispatch, api_keys, timeout_s
        )
        for m in methods
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_servicer.set(SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise RuntimeError(f"gRPC could not bind {host}:{port}")
    return server, health_servicer


def set_serving(health_servicer: health.HealthServicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in (SERVICE, ""):
        health_servicer.set(name, status)
