"""The media relay: an aiortc SFU that forwards encoded media (see media/README.md).

Modules: passthrough (every aiortc internal), bitstream (keyframes, resolution), fanout
(feeds and bounded viewer queues), engine (sessions), protocol/server (control channel),
client (RelayClient for web processes), registry (session → relay, RelayPool), config.
"""
