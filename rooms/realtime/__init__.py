"""The room real-time engine: per-room event streams, the per-process fan-out hub, likes and
presence. Pure asyncio; the Channels consumer and the Django models plug in through the
interfaces described in README.md beside this file."""
