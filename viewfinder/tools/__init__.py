"""Capabilities, one module each and usable alone: video input, shots, CLIP, speech (ASR), screen
text (OCR), text embeddings, the text LLM, the compressed VLM, devices."""
