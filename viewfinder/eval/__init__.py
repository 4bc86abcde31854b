"""Evaluation: benchmark loaders (LongVideoBench, MLVU, Video-MME, ...), the resumable runner,
official and strict scoring, reports, and needle-in-a-haystack videos built from real footage."""
