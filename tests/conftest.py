"""Shared fixtures: the real media directory, and a guard that fails a test on ERROR logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO.parent / "shared" / "media"
SAMPLE = REPO / "media" / "sample.mp4"
# Skip reason of every test that needs the real clips (say where they come from once, here).
MEDIA_MISSING = (
    f"real media not found at {SHARED_MEDIA}: a folder of clips taken unchanged from Debian "
    "packages, beside this checkout; the README's 'Test media' section says how to make it"
)


def shared_data(name: str) -> Path:
    """``shared/data/<name>`` beside this checkout (or beside the worktrees folder holding it)."""
    for root in REPO.parents[:3]:
        if (root / "shared" / "data" / name).exists():
            return root / "shared" / "data" / name
    return REPO.parent / "shared" / "data" / name


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """The real clips in ../shared/media (skips when this checkout has no shared/ beside it)."""
    if not (SHARED_MEDIA / "README.md").exists():
        pytest.skip(MEDIA_MISSING)
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def sample_video() -> Path:
    """The bundled sample video (real footage, kept in the repo)."""
    return SAMPLE


@pytest.fixture(autouse=True)
def _fail_on_error_logs(caplog: pytest.LogCaptureFixture):
    """A test that makes viewfinder log an ERROR fails, even if its assertions pass."""
    caplog.set_level(logging.WARNING, logger="viewfinder")
    yield
    errors = [
        r
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR
        and r.name.startswith("viewfinder")
        and not getattr(r, "expected", False)
    ]
    if errors:
        pytest.fail("viewfinder logged errors: " + "; ".join(r.getMessage() for r in errors))
