"""The gateway's gRPC listener: one port for the Open Inference Protocol, routed by model name.

Clients (tritonclient.grpc, kserve's InferenceGRPCClient, grpcurl) call
`inference.GRPCInferenceService` here; `ModelInfer`, `ModelMetadata` and `ModelReady` go to a
model server of the endpoint their `model_name`/`name` field names, chosen from the routes file
the reconciler writes (each revision's traffic percent, then round robin over its replicas).
Model servers listen for gRPC on the port after their HTTP port (`ports.grpc_port_of`) when their
InferenceService asks for `protocolVersion: grpc-v2`; an endpoint without it answers UNAVAILABLE
with that fix. `ServerLive`/`ServerReady`/`ServerMetadata` are answered here.

Messages are forwarded as bytes, never decoded: the model name is read straight from the wire
(field 1 of the request, a few bytes in) by `model_name_field` - hand-written because parsing a
whole tensor message in the proxy would cost as much as the model server's own decode.

The table is read from the routes file (format 2: `traffic` with `upstreams`, or the older
single `upstream`) on its own mtime check, independent of the HTTP proxy's table. An endpoint
that requires API keys needs one in the `authorization` metadata (`Bearer <key>`), checked
against the same key ring as HTTP (else UNAUTHENTICATED); that metadata is not forwarded.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from neuroscale.gateway.api_keys import AUTHORIZATION, KeyRing, key_needed
from neuroscale.gateway.filewatch import WatchedJson
from neuroscale.gateway.routes import auth_of
from neuroscale.ports import grpc_port_of

SERVICE = "inference.GRPCInferenceService"
ROUTED = ("ModelInfer", "ModelMetadata", "ModelReady")
RELOAD_INTERVAL_S = 0.05
_SERVER_ANSWERS = {"ServerLive": b"\x08\x01", "ServerReady": b"\x08\x01"}  # {live/ready: true}


class WireError(ValueError):
    pass


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def model_name_field(message: bytes) -> str:
    """Field 1 (a string) of a protobuf message, scanning past other fields; "" when absent."""
    offset = 0
    while offset < len(message):
        tag, offset = _varint(message, offset)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, offset = _varint(message, offset)
        elif wire == 1:
            offset += 8
        elif wire == 5:
            offset += 4
        elif wire == 2:
            size, offset = _varint(message, offset)
            if number == 1:
                return message[offset:offset + size].decode("utf-8")
            offset += size
        else:
            raise WireError(f"unsupported wire type {wire}")
    return ""


def _string_field(number: int, text: str) -> bytes:
    data = text.encode()
    return bytes([number << 3 | 2]) + _encode_varint(len(data)) + data


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@dataclass(frozen=True)
class Endpoint:
    name: str
    ready: bool
    shares: tuple[tuple[int, tuple[str, ...]], ...]  # (percent, upstreams) per revision
    reason: str = ""
    message: str = ""
    timeout: float = 300.0
    auth: str = ""  # calls need an API key of this endpoint ("": none)

    def replicas(self) -> Iterator[str]:
        """Upstreams in the order to try: a revision drawn by its percent, its replicas round robin."""
        live = [(percent, ups) for percent, ups in self.shares if ups and percent > 0] or [
            (1, ups) for _, ups in self.shares if ups]
        if not live:
            return iter(())
        chosen = random.choices(live, weights=[percent for percent, _ in live])[0][1]
        start = next(_ROUND_ROBIN) % len(chosen)
        return iter(chosen[start:] + chosen[:start])


_ROUND_ROBIN = itertools.count()


def read_table(document: Any) -> dict[str, Endpoint]:
    endpoints = document.get("endpoints") if isinstance(document, dict) else None
    table = {}
    for name, entry in (endpoints.items() if isinstance(endpoints, dict) else []):
        if not isinstance(entry, dict):
            continue
        shares = tuple((int(t.get("percent") or 0), tuple(str(u) for u in t.get("upstreams") or ()))
                       for t in entry.get("traffic") or () if isinstance(t, dict))
        if not shares and entry.get("upstream"):
            shares = ((100, (str(entry["upstream"]),)),)
        table[str(name)] = Endpoint(name=str(name), ready=bool(entry.get("ready")), shares=shares,
                                    reason=str(entry.get("reason") or ""), message=str(entry.get("message") or ""),
                                    timeout=float(entry.get("timeout") or 300.0), auth=auth_of(str(name), entry))
    return table


class GrpcTable:
    """The endpoints of the routes file, reloaded when its mtime or size changes."""

    def __init__(self, path: Path) -> None:
        self.file = WatchedJson(path)
        self.endpoints: dict[str, Endpoint] = {}

    def refresh(self) -> bool:
        document = self.file.changed()  # None: unchanged, missing or half-written (keep the last good table)
        if document is None:
            return False
        self.endpoints = read_table(document)
        return True


def grpc_upstream(http_upstream: str) -> str:
    host, _, port = http_upstream.rpartition(":")
    return f"{host}:{grpc_port_of(int(port))}"


class GrpcProxy:
    """Forwards routed calls to model servers over cached channels."""

    def __init__(self, table: GrpcTable, keys: KeyRing) -> None:
        self.table = table
        self.keys = keys
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=[
                ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
            self._channels[address] = channel
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    def retain_only(self, upstreams: set[str]) -> None:
        for address in set(self._channels) - upstreams:
            channel = self._channels.pop(address)
            asyncio.get_running_loop().create_task(channel.close())

    def handler(self, method: str) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
        path = f"/{SERVICE}/{method}"

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                return await self._forward(path, request, context)
            except Refused as refused:
                await context.abort(refused.code, refused.details)
                raise  # abort() raises; this line only tells readers and type checkers so

        return forward

    async def _forward(self, path: str, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            name = model_name_field(request)
        except (WireError, UnicodeDecodeError):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid protobuf message") from None
        endpoint = self.table.endpoints.get(name)
        if endpoint is None:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"no endpoint named {name!r}; fix: send the endpoint's name "
                                                     "as the model name")
        upstreams = list(endpoint.replicas())
        if not upstreams:
            why = f" ({endpoint.reason}: {endpoint.message})" if endpoint.reason else ""
            raise Refused(grpc.StatusCode.UNAVAILABLE, f"endpoint {name!r} has no ready model server{why}; "
                                                       "fix: retry once it is Ready")
        metadata = tuple((k, v) for k, v in (context.invocation_metadata() or ()) if not k.startswith(":"))
        if endpoint.auth:
            if not self.keys.admits(endpoint.auth, [v for k, v in metadata if k == AUTHORIZATION]):
                raise Refused(grpc.StatusCode.UNAUTHENTICATED, "; fix: ".join(key_needed(name)))
            metadata = tuple((k, v) for k, v in metadata if k != AUTHORIZATION)
        remaining = context.time_remaining()
        timeout = min(endpoint.timeout, remaining) if remaining is not None else endpoint.timeout
        detail = ""
        for upstream in upstreams:
            call = self._channel(grpc_upstream(upstream)).unary_unary(path)
            try:
                answer: bytes = await call(request, timeout=timeout, metadata=metadata)
                return answer
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise Refused(exc.code(), exc.details() or "") from None
                detail = exc.details() or ""  # this replica is not there (yet, or any more): try the next one
        raise Refused(grpc.StatusCode.UNAVAILABLE, (
            f"endpoint {name!r} does not answer gRPC ({detail}); fix: set protocolVersion: grpc-v2 on its "
            "predictor model, or use the HTTP port"))


class Refused(Exception):
    """A call the proxy answers with a gRPC status instead of forwarding."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def generic_handler(proxy: GrpcProxy, *, version: str) -> grpc.GenericRpcHandler:
    def constant(answer: bytes) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
        async def reply(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
            return answer

        return reply

    metadata = _string_field(1, "neuroscale") + _string_field(2, version)
    table = {method: grpc.unary_unary_rpc_method_handler(proxy.handler(method)) for method in ROUTED}
    table |= {method: grpc.unary_unary_rpc_method_handler(constant(answer))
              for method, answer in (*_SERVER_ANSWERS.items(), ("ServerMetadata", metadata))}
    return grpc.method_handlers_generic_handler(SERVICE, table)


@dataclass
class GrpcListener:
    server: grpc.aio.Server
    proxy: GrpcProxy
    reloader: asyncio.Task[None]

    async def stop(self, grace: float | None = None) -> None:
        self.reloader.cancel()
        await self.server.stop(grace)
        await self.proxy.close()


async def start(routes_file: Path, *, keys: KeyRing, host: str, port: int, max_message_bytes: int,
                version: str = "") -> GrpcListener | None:
    """Start the listener; None (with a warning on stderr) when the port cannot be bound.

    `keys` is the HTTP gateway's key ring, which its reload loop keeps current.
    """
    table = GrpcTable(routes_file)
    table.refresh()
    proxy = GrpcProxy(table, keys)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                      ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((generic_handler(proxy, version=version),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        print(f"warning: gRPC listener not started: cannot listen on {address}; fix: pass a free --grpc-port "
              "(or 0 to turn gRPC off)", file=sys.stderr, flush=True)
        return None
    await server.start()

    async def reload() -> None:
        while True:
            if table.refresh():
                proxy.retain_only({grpc_upstream(u) for e in table.endpoints.values()
                                   for _, ups in e.shares for u in ups})
            await asyncio.sleep(RELOAD_INTERVAL_S)

    return GrpcListener(server, proxy, asyncio.get_running_loop().create_task(reload()))
