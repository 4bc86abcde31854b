"""Model and media adapters behind small interfaces: video decoding, shots, ASR, OCR, CLIP,
text embeddings, the text LLM and the VLM (each heavy dependency imported where used)."""
