"""Which relay owns which session, and the pool of relay clients a web process uses.

Embedded default (no REDIS_URL): one relay, at settings.LIVESHOP_MEDIA_RELAY_LISTEN (a Unix
socket in var/); every session lives there.

With Redis (several relay processes, maybe several hosts), two hashes under the prefix:
  <prefix>:media:relays    relay id → {"address", "seen", "sessions", "peer_connections"}
                           (each relay rewrites its entry every HEARTBEAT seconds)
  <prefix>:media:sessions  session key → relay id
A web process looks a session up; if it has no live owner it assigns the least loaded live
relay (compare-and-set, so racing web processes agree). A relay claims each session it
creates the same way and answers `moved` if another live relay has it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import Any, Protocol

from .client import EventStream, RelayClient
from .protocol import RelayError

logger = logging.getLogger(__name__)

HEARTBEAT = 2.0
RELAY_TTL = 3 * HEARTBEAT  # a relay not seen for this long is dead

# KEYS: sessions, relays. ARGV: session, candidate relay id, now, ttl, expected current owner.
# Sets the owner to the candidate if the current owner is the expected one, missing or dead.
# Returns the owner afterwards.
_ASSIGN = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[5] and owner ~= ARGV[2] then
  local info = redis.call('HGET', KEYS[2], owner)
  if info then
    local seen = tonumber(cjson.decode(info)['seen'])
    if seen and tonumber(ARGV[3]) - seen <= tonumber(ARGV[4]) then
      return owner
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
"""

# KEYS: sessions. ARGV: session, relay id. Deletes the mapping only if it is still ours.
_RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class Directory(Protocol):
    async def address_for(self, session: str) -> str: ...

    async def close(self) -> None: ...


class LocalDirectory:
    """The embedded default: one relay at a fixed address."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def address_for(self, session: str) -> str:
        return self.address

    async def close(self) -> None:
        return None


def _keys(prefix: str) -> tuple[str, str]:
    return f"{prefix}:media:sessions", f"{prefix}:media:relays"


class RedisDirectory:
    """Session → relay lookups for web processes (and the relays' own claims)."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(redis_url, decode_responses=True)
        self.sessions_key, self.relays_key = _keys(prefix)
        self._assign = self.redis.register_script(_ASSIGN)

    async def live_relays(self) -> dict[str, dict[str, Any]]:
        now = time.time()
        raw = await self.redis.hgetall(self.relays_key)
        live: dict[str, dict[str, Any]] = {}
        for relay_id, value in raw.items():
            try:
                info = json.loads(value)
            except ValueError:
                continue
            if now - float(info.get("seen", 0)) <= RELAY_TTL:
                live[str(relay_id)] = info
        return live

    async def address_for(self, session: str) -> str:
        relays = await self.live_relays()
        owner: str | None = await self.redis.hget(self.sessions_key, session)  # type: ignore[assignment]
        if owner is not None and owner in relays:
            return str(relays[owner]["address"])
        if not relays:
            raise RelayError("unavailable", "no media relay is running")
        candidate = min(
            relays,
            key=lambda r: (relays[r].get("peer_connections", 0), relays[r].get("sessions", 0), r),
        )
        winner = await self._assign(
            keys=[self.sessions_key, self.relays_key],
            args=[session, candidate, time.time(), RELAY_TTL, owner or ""],
        )
        if winner not in relays:
            # assigned to a relay that registered after our read: look it up
            relays = await self.live_relays()
            if winner not in relays:
                raise RelayError("unavailable", "the session's relay is not running")
        return str(relays[winner]["address"])

    async def close(self) -> None:
        await self.redis.aclose()


class RelayRegistration:
    """A relay's side: heartbeat its entry, claim and release its sessions."""

    def __init__(self, directory: RedisDirectory, relay_id: str, address: str) -> None:
        self.directory = directory
        self.redis = directory.redis
        self.relay_id = relay_id
        self.address = address
        self._release = self.redis.register_script(_RELEASE)
        self._task: asyncio.Task[None] | None = None

    async def heartbeat(self, status: dict[str, Any] | None = None) -> None:
        status = status or {}
        entry = {
            "address": self.address,
            "seen": time.time(),
            "sessions": status.get("sessions", 0),
            "peer_connections": status.get("peer_connections", 0),
        }
        await self.redis.hset(self.directory.relays_key, self.relay_id, json.dumps(entry))

    def start(self, status: Any) -> None:
        """Heartbeat every HEARTBEAT seconds; `status()` gives the load to advertise."""

        async def beat() -> None:
            while True:
                try:
                    await self.heartbeat(status())
                except Exception as exc:  # Redis blips must not kill the relay
                    logger.warning("media relay heartbeat failed: %s", exc)
                await asyncio.sleep(HEARTBEAT)

        self._task = asyncio.create_task(beat())

    async def claim(self, session: str) -> str | None:
        owner = await self.directory._assign(
            keys=[self.directory.sessions_key, self.directory.relays_key],
            args=[session, self.relay_id, time.time(), RELAY_TTL, ""],
        )
        if owner == self.relay_id:
            return None
        info = await self.redis.hget(self.directory.relays_key, owner)
        return str(json.loads(info)["address"]) if info else None

    async def release(self, session: str) -> None:
        await self._release(keys=[self.directory.sessions_key], args=[session, self.relay_id])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.redis.hdel(self.directory.relays_key, self.relay_id)


# --- the web side's pool ----------------------------------------------------------------


class RelayPool:
    """Relay clients of one event loop, one per relay address."""

    def __init__(self, directory: Directory, *, secret: str = "") -> None:
        self.directory = directory
        self.secret = secret
        self._clients: dict[str, RelayClient] = {}

    def client(self, address: str) -> RelayClient:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = RelayClient(address, secret=self.secret)
        return client

    async def client_for(self, session: str) -> RelayClient:
        return self.client(await self.directory.address_for(session))

    async def offer(
        self, *, session: str, peer: str, **fields: Any
    ) -> tuple[RelayClient, EventStream, dict[str, Any]]:
        """Offer on the session's relay, following one `moved` redirect. Returns the client
        to use for this peer from now on, its event stream, and the answer."""
        client = await self.client_for(session)
        # A peer that already has a leg (a viewer who now publishes, a re-offer) keeps its
        # event stream when this offer is refused: only a stream made for it is closed.
        fresh = not client.has_events(session, peer)
        events = client.events(session, peer)
        try:
            return client, events, await client.offer(session=session, peer=peer, **fields)
        except RelayError as exc:
            if fresh:
                events.close()
            address = exc.extra.get("address")
            if exc.code != "moved" or not address:
                raise
        client = self.client(str(address))
        fresh = not client.has_events(session, peer)
        events = client.events(session, peer)
        try:
            return client, events, await client.offer(session=session, peer=peer, **fields)
        except RelayError:
            if fresh:
                events.close()
            raise

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        await self.directory.close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RelayPool] = (
    weakref.WeakKeyDictionary()
)


def directory_from_settings() -> Directory:
    from django.conf import settings

    if settings.REDIS_URL:
        return RedisDirectory(settings.REDIS_URL, settings.LIVESHOP_REDIS_PREFIX)
    return LocalDirectory(settings.LIVESHOP_MEDIA_RELAY_LISTEN)


def relay_pool() -> RelayPool:
    """The running loop's RelayPool, configured from settings."""
    from django.conf import settings

    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = RelayPool(
            directory_from_settings(), secret=settings.LIVESHOP_MEDIA_RELAY_SECRET
        )
    return pool
