"""HLS for crowds, and recordings: a worker process renders a room's show once (decode each
feed, compose, mix, encode per rendition) into MPEG-TS segments and playlists that any web
server or CDN can carry. See media/hls/README.md."""
