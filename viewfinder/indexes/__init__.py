"""Persistent per-video indexes (shots, speech, screen text, visual) and fused retrieval."""

from .build import IndexHandle as IndexHandle
from .build import IndexOptions as IndexOptions
from .build import index_video as index_video
from .fusion import Hit as Hit
from .fusion import Span as Span
from .fusion import fuse as fuse
from .store import VideoStore as VideoStore
from .store import clear as clear
from .store import list_indexes as list_indexes
