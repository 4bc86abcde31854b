"""Shared pieces of the serve / MCP / web tests: tiny real videos, fakes that implement the
real model interfaces (the scripted LLM is ``fakes.ScriptedLLM``), and a real uvicorn server
on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from fakes import ScriptedLLM

from viewfinder import VideoQA
from viewfinder.settings import Settings
from viewfinder.tools.asr import Segment

SAMPLE_RATE = 16000


def make_video(path: Path, seconds: float, fps: int = 4, size: int = 64, tone: float = 440.0):
    """A real H.264/AAC mp4: a colour that changes every second, and a sine tone."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        for i in range(int(seconds * fps)):
            shade = (i // fps * 53) % 255
            img = np.full((size, size, 3), (shade, 255 - shade, 90), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        wave = (0.2 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
        step = 1024
        for start in range(0, len(wave), step):
            chunk = wave[start : start + step][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            frame.time_base = Fraction(1, SAMPLE_RATE)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path


class FakeWhisper:
    """The Transcriber interface: says ``texts[round(seconds)]`` for a chunk of that length.

    When ``gate`` is given, call ``hold_from`` and later wait for it (polling the build's
    cancel check, as the real model does between windows): tests hold a job mid-speech.
    """

    def __init__(
        self,
        texts: dict[int, str],
        gate: threading.Event | None = None,
        hold_from: int = 2,
        at: tuple[float, float] = (0.5, 2.5),
    ) -> None:
        self.texts = texts
        self.gate = gate
        self.hold_from = hold_from  # the first call that waits for the gate
        self.at = at  # (start, end) of the one segment said, in chunk seconds
        self.calls = 0
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, progress=None) -> list[Segment]:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.gate is not None and call >= self.hold_from:
            while not self.gate.wait(0.05):
                if progress is not None:
                    progress(0.5)
        seconds = len(audio) / SAMPLE_RATE
        text = self.texts.get(round(seconds), "")
        if not text:
            return []
        return [Segment(self.at[0], min(seconds, self.at[1]), text, (), -0.1, 0.01)]


def fast_qa(cache: Path, llm: ScriptedLLM | None = None) -> VideoQA:
    """A VideoQA with speech only (no OCR / CLIP / VLM / text embeddings) and a scripted LLM."""
    # A directory as the ASR "weights": the recipe names it, FakeWhisper does the talking.
    fake_weights = cache / "fake-asr"
    fake_weights.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        cache_dir=cache,
        asr=str(fake_weights),
        ocr=None,
        clip=None,
        vlm=None,
        text_embedding=None,
        threads=1,
    )
    qa = VideoQA(settings)
    qa.models.use("llm", llm or ScriptedLLM())
    qa.models.use("vlm", None)
    return qa


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a free port; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
