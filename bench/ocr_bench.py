"""OCR engines on real frames: seconds per frame and recall of hand-written ground truth.

For every installed engine (``viewfinder.tools.ocr.AVAILABLE_ENGINES``) and three ways of
reading, prints a markdown table of median seconds per frame and word recall:

* ``read@640``: one pass over the frame downscaled to 640 px (longest side);
* ``read@full``: one pass at the frame's own resolution;
* ``fine@640``: coarse-to-fine, boxes found at 640 px and read from full-resolution crops.

The ground truth below was written by looking at each frame (text cut off by the frame or
hidden behind other windows is left out). Recall counts a ground-truth word as read when the
same word, ignoring case, accents and punctuation, is among the words the engine returned;
"loose" recall also accepts it inside words the engine ran together ("SystemSettings").

Usage: python bench/ocr_bench.py [--engines rapidocr easyocr-en] [--repeat 1]
Frames come from ../shared/media (repo is /work/main, shared is /work/shared).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
import unicodedata
from pathlib import Path

import numpy as np

from viewfinder.tools.ocr import AVAILABLE_ENGINES, OcrEngine, OcrOptions, load_ocr

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"

# (file, seconds, lines of text visible in the frame)
# fmt: off
GROUND_TRUTH: list[tuple[str, float, list[str]]] = [
    ("hello_terminal.mp4", 0.5, [
        "Hello world...", "~ : bash — Konsole",
        "Arquivo Editar Exibir Favoritos Configurações Ajuda", "eriberto@canopus:~$"]),
    ("hello_terminal.mp4", 6.5, [
        "Hello world...", "~ : bash — Konsole",
        "Arquivo Editar Exibir Favoritos Configurações Ajuda", "eriberto@canopus:~$ ls /usr",
        "bin include lib64 local share", "games lib libexec sbin src", "eriberto@canopus:~$"]),
    ("display_settings.webm", 15.0, [
        "Activities", "System Settings", "Wed 18:38", "Tiffany Antopolski", "Laptop", "Displays",
        "All Settings", "Laptop", 'Acer Technologies 17"', 'Acer Technologies 17"', "ON",
        "Mirror displays", "Note: may limit resolution options", "Resolution:",
        "1280 x 1024 (5:4)", "Rotation:", "Normal", "Detect Displays", "Apply"]),
    ("display_settings.webm", 33.0, [
        "Activities", "System Settings", "Wed 18:38", "Tiffany Antopolski", "Mirror Screens",
        "Displays", "All Settings", "Mirror Displays", "Mirror Displays", "OFF",
        "Mirror displays", "Note: may limit resolution options", "Resolution:",
        "1024 x 768 (4:3)", "Rotation:", "Normal", "Detect Displays", "Apply"]),
    ("message_board.ogv", 8.0, ["Yo", "Hello world!", "This is the message board."]),
    ("message_board.ogv", 20.0, [
        "You can create it yourself", "using WebKitGTK+ in only", "fifteen minutes."]),
    ("channel_ident_slides.mp4", 2.0, [
        "30°", "0°", "30°", "110°", "110°", "Spoken Channel Identification (English)",
        "Fraunhofer", "IIS"]),
    ("channel_ident_slides.mp4", 15.0, [
        "30°", "0°", "30°", "110°", "110°", "EBU Tech 3304-4.1 BLITS", "Fraunhofer", "IIS"]),
    ("channel_ident_slides.mp4", 25.0, [
        "30°", "0°", "30°", "110°", "110°", "EBU Tech 3304-4.2 EBU Multichannel Ident",
        "Fraunhofer", "IIS"]),
    ("channel_ident_slides.mp4", 44.0, [
        "30°", "0°", "30°", "110°", "110°", "www.iis.fraunhofer.de/amm", "Fraunhofer", "IIS"]),
    ("wanna_work_together.mp4", 2.0, ["WANNA WORK", "TOGETHER?"]),
    ("wanna_work_together.mp4", 105.0, ["AND IT'S", "FREE!"]),
    ("wanna_work_together.mp4", 111.0, [
        "Allow commercial uses of your work?", "Yes", "No", "Allow modifications of your work?",
        "Yes", "Yes, as long as others share alike", "No"]),
    ("wanna_work_together.mp4", 117.0, [
        "to make derivative works", "Under the following conditions:",
        "Attribution. You must attribute the work in the", "specified by the author or licensor.",
        "Noncommercial. You may not use this work for", "purposes.",
        "Share Alike. If you alter, transform, or build upon this",
        "may distribute the resulting work only under a license", "to this one.",
        "For any reuse or distribution, you must make clear to others the",
        "Any of these conditions can be waived if you get permission from"]),
    ("wanna_work_together.mp4", 150.0, ["creative commons"]),
    ("wanna_work_together.mp4", 159.0, ["NARRATOR", "Sara Kraft", "kraftpurver.com"]),
    ("wanna_work_together.mp4", 165.0, [
        "VERY SPECIAL THANKS", "The William and Flora Hewlett Foundation", "hewlett.org"]),
    ("wanna_work_together.mp4", 175.0, [
        "And all Creative Commons", "supporters, large and small."]),
]
# fmt: on

MODES = ("read@640", "read@full", "fine@640")


def words(text: str) -> list[str]:
    """Lower-case words without accents or punctuation ("Configurações" -> "configuracoes")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return re.findall(r"[a-z0-9]+", text)


def recall(truth: list[str], lines: list[str]) -> tuple[int, int, int]:
    """(strict hits, loose hits, total) over the ground-truth words of one frame."""
    expected = [w for line in truth for w in words(line)]
    got = [w for line in lines for w in words(line)]
    joined = "".join(got)
    strict = loose = 0
    pool = list(got)
    for w in expected:
        if w in pool:
            pool.remove(w)  # a word shown twice must be read twice
            strict += 1
            loose += 1
        elif len(w) >= 3 and w in joined:
            loose += 1
    return strict, loose, len(expected)


def frame(path: Path, seconds: float) -> np.ndarray:
    """One RGB frame at ``seconds`` (ffmpeg seeks after -i, so the frame is exact)."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    probe = subprocess.run([ffmpeg, "-i", str(path)], capture_output=True, text=True).stderr
    w, h = map(int, re.search(r"Video:.*?(\d{2,5})x(\d{2,5})", probe).groups())
    raw = subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-ss",
            str(seconds),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def run_mode(engine: OcrEngine, mode: str, image: np.ndarray) -> list[str]:
    if mode == "read@640":
        engine.options = OcrOptions(max_side=640, threads=engine.options.threads)
        return [b.text for b in engine.read(image)]
    if mode == "read@full":
        engine.options = OcrOptions(max_side=max(image.shape[:2]), threads=engine.options.threads)
        return [b.text for b in engine.read(image)]
    engine.options = OcrOptions(threads=engine.options.threads)
    return [b.text for b in engine.read_fine(image, detect_max_side=640)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=sorted(AVAILABLE_ENGINES))
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per frame (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="print what each engine read")
    parser.add_argument(
        "--max-frames", type=int, default=0, help="evenly spaced subset of the frames (0 = all)"
    )
    args = parser.parse_args()

    chosen = GROUND_TRUTH
    if 0 < args.max_frames < len(chosen):
        step = len(chosen) / args.max_frames
        chosen = [chosen[int(i * step)] for i in range(args.max_frames)]
    frames = [(f"{name}@{t:g}", frame(MEDIA / name, t), truth) for name, t, truth in chosen]
    print(f"{len(frames)} frames; load average before: {os.getloadavg()[0]:.1f}")
    rows = []
    for name in args.engines:
        t0 = time.perf_counter()
        engine = load_ocr(name, OcrOptions(threads=args.threads))
        load_s = time.perf_counter() - t0
        for mode in MODES:
            run_mode(engine, mode, frames[0][1])  # warm-up (first call allocates)
            seconds, strict, loose, total = [], 0, 0, 0
            for label, image, truth in frames:
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    lines = run_mode(engine, mode, image)
                    seconds.append(time.perf_counter() - t0)
                s, lo, n = recall(truth, lines)
                strict, loose, total = strict + s, loose + lo, total + n
                if args.verbose:
                    print(f"{name} {mode} {label}: {s}/{n} {lines}")
            big = [
                s
                for s, (_, im, _) in zip(seconds[:: args.repeat], frames, strict=True)
                if max(im.shape[:2]) > 640
            ]
            rows.append(
                (
                    name,
                    mode,
                    load_s,
                    statistics.median(seconds),
                    statistics.median(big) if big else float("nan"),
                    strict / total,
                    loose / total,
                    total,
                )
            )
    print(f"load average after: {os.getloadavg()[0]:.1f}\n")
    print(
        "| engine | mode | load s | median s/frame (all) | median s/frame (>640 px frames) "
        "| word recall | loose recall | words |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, mode, load_s, med, med_big, rec, loose_rec, total in rows:
        print(
            f"| {name} | {mode} | {load_s:.1f} | {med:.2f} | {med_big:.2f} | {rec:.1%} "
            f"| {loose_rec:.1%} | {total} |"
        )


if __name__ == "__main__":
    main()
