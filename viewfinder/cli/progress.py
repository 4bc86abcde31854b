"""Progress bars on stderr for every command (tqdm, imported when a bar is drawn)."""

from __future__ import annotations

import sys
from typing import Any


class ProgressBars:
    """tqdm bars on stderr, one per stage, fed by ``progress(stage, done, total)`` callbacks
    (``viewfinder.progress.Progress``); every command draws its progress with this.

    Args:
        enabled: Draw at all (off for ``--quiet`` and non-terminals).
        keep: Leave finished bars on screen (``viewfinder index`` shows what each stage took).
    """

    def __init__(self, enabled: bool = True, keep: bool = False) -> None:
        self.enabled = enabled
        self.keep = keep
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: float, total: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = tqdm(
                total=round(total, 1),
                desc=f"{stage:>12}",
                position=len(self.bars),
                unit="s" if stage in ("decode", "speech") else "it",
                leave=self.keep,
                file=sys.stderr,
                dynamic_ncols=True,
            )
            self.bars[stage] = bar
        if total and round(total, 1) != bar.total:
            bar.total = round(total, 1)
        bar.n = round(min(done, total) if total else done, 1)
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
