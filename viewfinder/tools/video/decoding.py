"""How PyAV decodes for us: threading only where it is reproducible, and past the odd bad packet.

Used by the readers (:mod:`.backends`) and by the shot scan (``tools/shots.py``), which decodes
the whole video once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Codecs whose frame-threaded decoding is not reproducible: FFmpeg's Theora (VP3) decoder with
# frame threads returned different pictures from run to run on a real Ogg file
# (message_board.ogv), so an index, and everything built from the file, changed between runs.
NO_FRAME_THREADS = frozenset({"theora", "vp3"})
# Consecutive packets the decoder may reject before the stream counts as corrupt.
MAX_BAD_PACKETS = 64


def set_decoder_threads(stream: Any, threads: int | None = None) -> None:
    """Let ``stream``'s decoder use threads, frame threads only where they are reproducible.

    Args:
        stream: A PyAV video stream, before its first packet is decoded.
        threads: Decoder threads (None: FFmpeg's choice).
    """
    codec = stream.codec_context.name
    stream.thread_type = "SLICE" if codec in NO_FRAME_THREADS else "AUTO"
    if threads is not None:
        stream.codec_context.thread_count = threads


def decode_tolerant(av: Any, container: Any, stream: Any) -> Iterator[Any]:
    """Decode packet by packet, yielding None for a packet the decoder rejects.

    Real files (Theora in Ogg, some WebM) carry the odd packet FFmpeg refuses mid-stream;
    decoding the whole stream in one call would stop at the first of them. A long run of
    rejected packets is a damaged file and raises ``av.error.FFmpegError``.
    """
    bad = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            bad += 1
            if bad > MAX_BAD_PACKETS:
                raise
            yield None
            continue
        bad = 0
        yield from frames
