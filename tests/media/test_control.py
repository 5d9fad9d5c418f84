"""The control channel: bad input gets a clear error and breaks nothing; only trusted local
clients get in; peers belong to the connection that created them; limits hold."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from media.relay.client import MAX_QUEUED_EVENTS, EventStream, RelayClient
from media.relay.config import RelayConfig
from media.relay.engine import Relay
from media.relay.protocol import MAX_FRAME_BYTES, RelayError, encode_frame, read_frame
from media.relay.registry import LocalDirectory
from media.relay.server import ControlServer
from tests.media.clients import Publisher, new_pc, relay_harness, run

ROOM = "room:7:launch"


async def refused(coro: Any) -> RelayError:
    with pytest.raises(RelayError) as info:
        await coro
    return info.value


async def aiortc_offer(*, video: bool = True, audio: bool = True, datachannel: bool = False) -> str:
    pc = new_pc()
    if audio:
        pc.addTransceiver("audio", direction="sendonly")
    if video:
        pc.addTransceiver("video", direction="sendonly")
    if datachannel:
        pc.createDataChannel("chat")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def test_malformed_offers_get_clear_errors_and_the_relay_keeps_working() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            c = h.client
            good = await aiortc_offer()

            def publish(sdp: Any, **extra: Any) -> Any:
                fields = {"session": ROOM, "peer": "p", "role": "publish", "identity": "host"}
                return c.request("offer", **{**fields, "sdp": sdp, **extra})

            cases: list[tuple[Any, str, str]] = [
                (publish("v=0\r\n" + "a=x\r\n" * 20000), "sdp_too_large", "exceeds"),
                (publish("this is not SDP"), "sdp_invalid", "no media"),
                (publish("m=video oops\r\n"), "sdp_invalid", "could not be parsed"),
                (publish("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"), "sdp_invalid", ""),
                (publish(await aiortc_offer(datachannel=True)), "sdp_invalid", "application"),
                (publish(re.sub(r"a=group:BUNDLE[^\r]*\r\n", "", good)), "sdp_invalid", "BUNDLE"),
                (publish(re.sub(r"a=ice-pwd:[^\r]*\r\n", "", good)), "sdp_invalid", "ICE"),
                (
                    publish(
                        re.sub(r"(a=candidate:\S+ \d \w+ \d+ )\S+", r"\1evil.example.com", good)
                    ),
                    "sdp_invalid",
                    "not an IP address",
                ),
                (
                    publish(good.replace("VP8/90000", "VP9/90000").replace("H264/", "AV1/")),
                    "codec_unsupported",
                    "video",
                ),
                (publish(good.replace("a=sendonly", "a=recvonly")), "sdp_invalid", "must send"),
                (publish(good, identity=None), "bad_request", "identity"),
                (publish(good, session="room 7"), "bad_request", "session"),
                (publish(good, role="watch"), "bad_request", "role"),
                (publish(good, profile="party"), "bad_request", "profile"),
                (publish(good, detached="yes"), "bad_request", "detached"),
                (publish(12), "sdp_invalid", "required"),
                (c.request("dance"), "bad_request", "unknown op"),
                (
                    c.request("answer", session=ROOM, peer="p", sdp=good),
                    "not_found",
                    "session",
                ),
            ]
            for index, (coro, code, words) in enumerate(cases):
                try:
                    await coro
                except RelayError as exc:
                    error = exc
                else:
                    raise AssertionError(f"case {index} ({code}) was accepted")
                assert error.code == code, (code, error.code, error.message)
                assert words.lower() in error.message.lower(), (words, error.message)
            # no peer connection leaked, and a good offer still works
            assert h.relay.peer_connections() == 0 and h.relay.sessions == {}
            host = h.publisher(ROOM, "host-ws", "host")
            await host.start()
            await host.wait_connected()
            assert h.relay.peer_connections() == 1

    run(scenario())


def test_bad_answers_and_ice_candidates_are_refused() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            c = h.client
            viewer = h.viewer(ROOM, "viewer-ws")
            await viewer.start()
            error = await refused(
                c.answer(session=ROOM, peer="viewer-ws", sdp=viewer.pc.localDescription.sdp)
            )
            assert error.code == "no_pending_offer"

            def ice(candidate: Any, **extra: Any) -> Any:
                return c.request(
                    "ice", session=ROOM, peer="viewer-ws", candidate=candidate, **extra
                )

            for coro, code in [
                (ice("candidate:garbage"), "ice_invalid"),
                (ice("candidate:1 1 udp 2130706431 127.0.0.1 port typ host"), "ice_invalid"),
                (ice("candidate:1 1 sctp 2130706431 127.0.0.1 5000 typ host"), "ice_invalid"),
                (ice("candidate:1 1 udp 1 attacker.example 5000 typ host"), "ice_invalid"),
                (ice("candidate:1 1 udp 1 127.0.0.1 70000 typ host"), "ice_invalid"),
                (ice("candidate:1 1 udp 1 127.0.0.1 5000 typ host " + "x" * 600), "ice_invalid"),
                (ice(None), "ice_invalid"),
                (ice("", sdpMLineIndex="zero"), "ice_invalid"),
                (ice("", sdpMid="m" * 40), "ice_invalid"),
                (ice("", role="publish"), "not_found"),
                (c.request("ice", session="room:7:none", peer="x", candidate=""), "not_found"),
            ]:
                assert (await refused(coro)).code == code
            # a well-formed trickled candidate and end-of-candidates are accepted
            await c.ice(
                session=ROOM,
                peer="viewer-ws",
                candidate="candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
                sdp_mid="0",
            )
            await c.ice(session=ROOM, peer="viewer-ws", candidate="")
            assert h.relay.sessions[ROOM].peers["viewer-ws"].subscribe is not None

    run(scenario())


def test_broken_frames_close_only_that_connection() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            path = h.address.removeprefix("unix:")
            for payload in (
                b"\x00\x00\x00\x05nope!",  # not JSON
                b"\x00\x00\x00\x02[]",  # not an object
                (MAX_FRAME_BYTES + 1).to_bytes(4, "big"),  # too large: never read
            ):
                reader, writer = await asyncio.open_unix_connection(path)
                writer.write(encode_frame({"id": 0, "op": "hello", "secret": ""}))
                assert (await read_frame(reader) or {})["ok"] is True
                writer.write(payload)
                reply = await read_frame(reader)
                assert reply is not None and reply["error"]["code"] == "protocol_error"
                assert await read_frame(reader) is None  # and the relay hung up
                writer.close()
            # a request with a bad id is answered, the connection stays
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(encode_frame({"id": 0, "op": "hello"}))
            await read_frame(reader)
            writer.write(encode_frame({"id": True, "op": "ping"}))
            assert (await read_frame(reader) or {})["error"]["code"] == "bad_request"
            writer.write(encode_frame({"id": 7, "op": "ping"}))
            assert (await read_frame(reader) or {}) == {"id": 7, "ok": True}
            writer.close()
            assert (await h.client.status())["relay"] == "test-relay"

    run(scenario())


def test_tcp_needs_the_shared_secret() -> None:
    async def scenario() -> None:
        relay = Relay(RelayConfig())
        with pytest.raises(ValueError, match="SECRET"):
            ControlServer(relay, listen="tcp:127.0.0.1:0", secret="")
        server = ControlServer(relay, listen="tcp:127.0.0.1:0", secret="s3cret-for-tests")
        address = await server.start()
        assert re.fullmatch(r"tcp:127\.0\.0\.1:\d+", address)
        try:
            wrong = RelayClient(address, secret="guess")
            assert (await refused(wrong.status())).code == "unauthorized"
            _, _, port = address.rpartition(":")
            reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
            writer.write(encode_frame({"id": 1, "op": "status"}))  # no hello first
            reply = await read_frame(reader)
            assert reply is not None and reply["error"]["code"] == "unauthorized"
            assert await read_frame(reader) is None
            writer.close()
            right = RelayClient(address, secret="s3cret-for-tests")
            assert (await right.status())["sessions"] == 0
            await right.close()
        finally:
            await server.close()
            await relay.close()

    run(scenario())


def test_unix_socket_is_private_and_stale_sockets_are_replaced() -> None:
    async def scenario() -> None:
        tmp = Path(tempfile.mkdtemp(prefix="lsm"))
        path = tmp / "relay.sock"
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(path))
        stale.close()  # a socket file nobody listens on: a relay that died
        relay = Relay(RelayConfig())
        server = ControlServer(relay, listen=f"unix:{path}")
        await server.start()
        try:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            second = ControlServer(Relay(RelayConfig()), listen=f"unix:{path}")
            with pytest.raises(RuntimeError, match="already listening"):
                await second.start()
        finally:
            await server.close()
            await relay.close()
        assert not path.exists()
        tmp.rmdir()

    run(scenario())


def test_peers_belong_to_the_connection_that_made_them() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            host = h.publisher(ROOM, "host-ws", "host")
            await host.start()
            other = RelayClient(h.address)
            try:
                assert (
                    await refused(other.leave(session=ROOM, peer="host-ws"))
                ).code == "not_found"
                stolen = Publisher(other, ROOM, "host-ws", "host")
                assert (await refused(stolen.start())).code == "peer_conflict"
                await stolen.pc.close()
            finally:
                await other.close()
            assert h.relay.sessions[ROOM].peers["host-ws"].publish is not None

    run(scenario())


def test_detached_peers_survive_their_connection_and_anyone_may_end_them() -> None:
    async def scenario() -> None:
        async with relay_harness() as h:
            whip_web = RelayClient(h.address)
            pc = new_pc()
            pc.addTransceiver("video", direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            await whip_web.offer(
                session=ROOM,
                peer="whip-1",
                role="publish",
                identity="host",
                sdp=pc.localDescription.sdp,
                detached=True,
            )
            await whip_web.close()  # the web process that took the WHIP POST restarts
            await asyncio.sleep(0.1)
            assert "whip-1" in h.relay.sessions[ROOM].peers
            await h.client.leave(session=ROOM, peer="whip-1")  # DELETE via another process
            assert ROOM not in h.relay.sessions
            await pc.close()

    run(scenario())


def test_relay_wide_limits() -> None:
    async def scenario() -> None:
        async with relay_harness(max_sessions=1, max_peer_connections=2) as h:
            await h.publisher(ROOM, "a", "host").start()
            await h.viewer(ROOM, "b").start()
            assert (await refused(h.viewer(ROOM, "c").start())).code == "relay_full"
            error = await refused(h.viewer("room:7:other", "d").start())
            assert error.code == "relay_full"

    run(scenario())


def test_event_streams_are_bounded() -> None:
    async def scenario() -> None:
        client = RelayClient("unix:/nonexistent.sock")
        stream = EventStream(client, ("s", "p"), stats=True)
        client._streams[("s", "p")] = stream
        for i in range(5):
            stream._put({"event": "stats", "n": i})
        assert len(stream._queue) == 1 and stream._queue[0]["n"] == 4  # only the latest
        for _ in range(MAX_QUEUED_EVENTS + 1):
            stream._put({"event": "state"})
        assert (await stream.get()) == {
            "event": "closed",
            "session": "s",
            "peer": "p",
            "reason": "overflow",
        }
        assert await stream.get() is None
        assert ("s", "p") not in client._streams

    run(scenario())


def test_unreachable_relay_is_a_clear_error() -> None:
    async def scenario() -> None:
        client = RelayClient("unix:/nonexistent/relay.sock", connect_timeout=1)
        error = await refused(client.status())
        assert error.code == "unavailable" and "cannot reach" in error.message
        with pytest.raises(ValueError):
            RelayClient("http://relay")

    run(scenario())


def test_embedded_default_uses_the_one_local_relay(settings: Any) -> None:
    settings.LIVESHOP_MEDIA_RELAY_LISTEN = "unix:/tmp/x/media-relay.sock"

    async def scenario() -> None:
        from media.relay.registry import relay_pool

        if settings.REDIS_URL:
            return  # the Postgres pass uses Redis: test_relay_process covers it
        pool = relay_pool()
        assert isinstance(pool.directory, LocalDirectory)
        client = await pool.client_for("room:1:a")
        assert client.address == "unix:/tmp/x/media-relay.sock"
        assert await pool.client_for("consult:2:b") is client
        await pool.close()

    run(scenario())


def test_make_run_starts_a_relay(settings: Any) -> None:
    from django.apps import apps

    settings.LIVESHOP_MEDIA_RELAY_WORKERS = 1
    from media.apps import MediaConfig

    config = apps.get_app_config("media")
    assert isinstance(config, MediaConfig)
    ((name, argv),) = config.serve_processes(python="/py", host="127.0.0.1", port=8000)
    assert name == "relay" and argv[0] == "/py" and argv[2:] == ["media_relay"]
    settings.LIVESHOP_MEDIA_RELAY_WORKERS = 2
    ((_, argv),) = config.serve_processes(python="/py", host="127.0.0.1", port=8000)
    assert argv[-2:] == ["--workers", "2"]
