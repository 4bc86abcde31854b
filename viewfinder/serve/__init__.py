"""Embedding viewfinder: an HTTP API, an MCP server and a web page over a library of videos.

``viewfinder serve --root DIR`` runs all three in one process (one ``runtime.Models``);
``viewfinder mcp --root DIR`` runs the MCP server over stdio. Importing this package loads
nothing heavy: FastAPI, uvicorn and the MCP SDK (the ``serve`` extra) load where used.
"""
