"""GGUF models on ik_llama.cpp through the prebuilt ``ik-llama-cpp-python`` wheel.

ik_llama.cpp is a llama.cpp fork with faster CPU kernels. Its PyPI package ships a
manylinux AVX2 wheel, so installing it compiles nothing (llama-cpp-python has no wheel on PyPI
and builds from source for ~10 minutes on 2 cores). Its own Python class (``IkLlama``) is neither
llama_cpp's ``Llama`` nor able to trim the KV cache, so this backend talks to the fork's C API
directly: the structures and the functions the wheel declares (``ik_llama_cpp._ctypes_api``,
checked against the ``llama.h`` the wheel ships), plus the few it leaves out, declared here from
that same header (``llama_kv_cache_seq_rm`` above all, for prompt-prefix reuse).

The fork's API is llama.cpp's of mid-2024: vocabulary calls take the model, not the vocab, and
the KV cache is trimmed with ``llama_kv_cache_seq_rm``. Everything else follows
:class:`~viewfinder.tools.llm.LlamaCppLLM`, so both backends give the same tokens and chat text
(tests/test_llm_backend.py compares them on the same GGUF).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import platform
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ModelError, PromptTooLongError, require
from . import llm as _llm
from .llm import LLMOptions, TextLLM, TokenProgress, _common_prefix, _messages

logger = logging.getLogger(__name__)

# What the PyPI wheel is compiled for (it has no runtime dispatch): without these the first
# matrix multiplication dies with SIGILL, so the backend is only picked where they exist.
REQUIRED_CPU_FLAGS = ("avx2", "fma", "f16c")
_GGML_LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_GGML_LOG_LEVEL_ERROR = 4


def cpu_supported(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU runs the wheel's code (Linux x86-64 with AVX2, FMA and F16C).

    Elsewhere there is no wheel: a package built from source targets its own machine.
    """
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    try:
        with cpuinfo.open() as f:
            flags = next(line.split(":", 1)[1].split() for line in f if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    return all(flag in flags for flag in REQUIRED_CPU_FLAGS)


class _Api:
    """ctypes declarations for the fork's C API (one per process; the library loads once)."""

    _instance: _Api | None = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> _Api:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        # Importing the wheel's declarations loads its libllama.so (RTLD_LOCAL: it does not
        # clash with llama-cpp-python's libllama in the same process).
        purpose = "The text LLM (ik_llama.cpp backend)"
        try:
            c = require("ik_llama_cpp._ctypes_api", "llm", purpose)
        except OSError as e:  # the wheel is there but its shared library does not load
            raise ModelError(
                f"{purpose}: ik-llama-cpp-python's library does not load here ({e}). Use the "
                "llama-cpp-python backend instead: pip install 'viewfinder[llama-cpp]'"
            ) from e
        self.c = c
        # Our own handle on the same loaded library, so the declarations added below do not
        # change the function objects the wheel's own classes use.
        lib = ctypes.CDLL(c._lib._name)
        model, ctx = ctypes.c_void_p, ctypes.c_void_p
        token, pos, seq = ctypes.c_int32, ctypes.c_int32, ctypes.c_int32

        def declare(name: str, argtypes: list[Any], restype: Any) -> Any:
            func = getattr(lib, name)
            func.argtypes, func.restype = argtypes, restype
            return func

        # From the wheel's include/llama.h (the declarations its _ctypes_api.py lacks).
        self.kv_cache_seq_rm = declare("llama_kv_cache_seq_rm", [ctx, seq, pos, pos], ctypes.c_bool)
        self.set_n_threads = declare(
            "llama_set_n_threads", [ctx, ctypes.c_uint32, ctypes.c_uint32], None
        )
        self.n_ctx = declare("llama_n_ctx", [ctx], ctypes.c_uint32)
        self.n_vocab = declare("llama_n_vocab", [model], ctypes.c_int32)
        self.meta_val_str = declare(
            "llama_model_meta_val_str",
            [model, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
            ctypes.c_int32,
        )
        self.token_get_text = declare("llama_token_get_text", [model, token], ctypes.c_char_p)
        self.token_bos = declare("llama_token_bos", [model], token)
        self.token_eos = declare("llama_token_eos", [model], token)
        self.log_set = declare("llama_log_set", [_GGML_LOG_CALLBACK, ctypes.c_void_p], None)
        # Library messages go to our logger (llama.cpp writes them to stderr otherwise); the
        # callback object must outlive every call into the library.
        self._log_callback = _GGML_LOG_CALLBACK(_log_message)
        self.log_set(self._log_callback, None)
        c.llama_backend_init()


def _log_message(level: int, text: bytes | None, _user: Any) -> None:
    if text:
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            logger.log(
                logging.WARNING if level >= _GGML_LOG_LEVEL_ERROR else logging.DEBUG, message
            )


class ChatTemplate:
    """A GGUF's Jinja chat template rendered like llama_cpp's ``Jinja2ChatFormatter``.

    Same environment (sandboxed, ``trim_blocks``, ``lstrip_blocks``, loop controls, the
    ``{% generation %}`` pass-through, transformers' ``tojson``) and the same variables, so a
    template renders to the same text under both backends.
    """

    def __init__(self, template: str, bos_token: str, eos_token: str) -> None:
        import jinja2
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        class _GenerationTag(jinja2.ext.Extension):
            # HuggingFace's {% generation %} marks the assistant's text; it renders as is.
            tags = {"generation"}

            def parse(self, parser: Any) -> Any:
                parser.stream.skip(1)
                return parser.parse_statements(("name:endgeneration",), drop_needle=True)

        env = ImmutableSandboxedEnvironment(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_GenerationTag, jinja2.ext.loopcontrols],
        )
        env.filters["tojson"] = _tojson
        self._template = env.from_string(template)
        self.bos_token, self.eos_token = bos_token, eos_token

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        def raise_exception(message: str) -> None:
            raise ValueError(message)

        return self._template.render(
            messages=messages,
            eos_token=self.eos_token,
            bos_token=self.bos_token,
            raise_exception=raise_exception,
            add_generation_prompt=add_generation_prompt,
            functions=None,
            function_call=None,
            tools=None,
            tool_choice=None,
            strftime_now=lambda fmt: datetime.now().strftime(fmt),
        )


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


class IkLlamaLLM(TextLLM):
    """GGUF models on ik_llama.cpp (the ``ik-llama-cpp-python`` wheel): no compiler needed."""

    BACKEND_NAME = "ik_llama"
    # Off, as in llama-cpp-python: both backends then compute attention the same way
    # (tests/test_llm_backend.py measures how close their probabilities are).
    FLASH_ATTN: ClassVar[bool] = False

    def __init__(
        self, model_path: Path, options: LLMOptions | None = None, name: str | None = None
    ) -> None:
        super().__init__(model_path, options, name)
        self._model: int | None = None
        self._ctx: int | None = None
        self._batch: Any = None
        self._cached: list[int] = []  # tokens whose keys and values the KV cache holds

    # ------------------------------------------------------------------ loading

    def _load(self) -> None:
        api = _Api.get()
        c, opts = api.c, self.options
        model_params = c.llama_model_default_params()
        model_params.n_gpu_layers = 0
        model = c.llama_model_load_from_file(str(self.model_path).encode("utf-8"), model_params)
        if not model:
            raise ModelError(
                f"ik_llama.cpp could not load {self.model_path}. Check that the file is a "
                "complete GGUF model (re-install its package); set the logger "
                f"{logger.name!r} to DEBUG to see the library's messages."
            )
        params = c.llama_context_default_params()
        params.seed = opts.seed
        params.n_ctx = opts.n_ctx
        params.n_batch = opts.n_batch
        params.n_ubatch = min(opts.n_batch, 512)  # llama-cpp-python's default
        params.n_threads = params.n_threads_batch = opts.threads
        params.logits_all = False
        params.flash_attn = self.FLASH_ATTN
        ctx = c.llama_init_from_model(model, params)
        if not ctx:
            c.llama_free_model(model)
            raise ModelError(
                f"ik_llama.cpp could not create a {opts.n_ctx}-token context for "
                f"{self.model_path.name}; try a smaller LLMOptions(n_ctx=...)."
            )
        self._api, self._model, self._ctx = api, model, ctx
        self._batch = c.llama_batch_init(opts.n_batch, 0, 1)
        self._n_vocab = api.n_vocab(model)
        self._cached = []
        template = self._meta("tokenizer.chat_template")
        if not template:
            logger.warning("%s has no chat template; using ChatML", self.model_path.name)
        bos, eos = api.token_bos(model), api.token_eos(model)
        self._bos = bos
        self._bos_text = self._token_text(bos)
        self._template = ChatTemplate(
            template or _llm._CHATML_TEMPLATE, self._bos_text, self._token_text(eos)
        )

    def _unload(self) -> None:
        if self._ctx is None:
            return
        c = self._api.c
        c.llama_batch_free(self._batch)
        c.llama_free(self._ctx)
        c.llama_free_model(self._model)
        self._batch = self._ctx = self._model = None
        self._cached = []

    def __del__(self) -> None:
        # Free the C model and context with the object, as llama_cpp.Llama does (otherwise a
        # dropped instance keeps ~1 GB); at interpreter exit the library may be gone already.
        with contextlib.suppress(Exception):
            self._unload()

    def _meta(self, key: str) -> str | None:
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._api.meta_val_str(self._model, key.encode("utf-8"), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8")
            size = n + 1  # the value was cut: read it again with room for all of it

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text = self._api.token_get_text(self._model, token)
        return text.decode("utf-8") if text else ""

    # ------------------------------------------------------------------ tokens and text

    def _chat_text(self, system: str, user: str) -> str:
        return self._template.render(_messages(system, user))

    def _encode_prompt(self, text: str) -> list[int]:
        # As in LlamaCppLLM: BOS only for vocabularies that ask for it, never a second one.
        add_bos = not (self._bos_text and text.startswith(self._bos_text))
        return self._tokenize(text.encode("utf-8"), add_bos, special=True)

    def _encode_plain(self, text: str) -> list[int]:
        return self._tokenize(text.encode("utf-8"), False, special=False)

    def _tokenize(self, data: bytes, add_bos: bool, special: bool) -> list[int]:
        c = self._api.c
        room = len(data) + 2
        while True:
            tokens = (c.llama_token * room)()
            n = c.llama_tokenize(self._model, data, len(data), tokens, room, add_bos, special)
            if n >= 0:
                return list(tokens[:n])
            room = -n  # a negative count is the number of tokens needed

    def _decode(self, tokens: Sequence[int]) -> bytes:
        c = self._api.c
        out, size = b"", 32
        buf = ctypes.create_string_buffer(size)
        for token in tokens:
            n = c.llama_token_to_piece(self._model, token, buf, size, 0, False)
            if n < 0:  # the piece is longer than the buffer
                size = -n
                buf = ctypes.create_string_buffer(size)
                n = c.llama_token_to_piece(self._model, token, buf, size, 0, False)
            out += buf.raw[:n]
        # llama-cpp-python drops the space a leading BOS leaves (Llama-1 style vocabularies).
        if tokens and tokens[0] == self._bos and out[:1] == b" ":
            return out[1:]
        return out

    def _is_end(self, token: int) -> bool:
        return bool(self._api.c.llama_token_is_eog(self._model, token))

    # ------------------------------------------------------------------ evaluation

    def _prepare_call(self) -> None:
        threads = self._free_threads()
        if threads is not None:
            self._api.set_n_threads(self._ctx, threads, threads)

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens the KV cache holds (what the next prompt can reuse)."""
        return list(self._cached)

    def _next_logits(
        self, tokens: Sequence[int], progress: TokenProgress | None = None
    ) -> np.ndarray:
        keep = _common_prefix(np.asarray(self._cached, dtype=np.int64), tokens)
        keep = min(keep, len(tokens) - 1)  # re-evaluate at least one token to get its logits
        if keep < len(self._cached):
            # Drop the keys and values past the shared prefix; a full clear if that fails.
            if not self._api.kv_cache_seq_rm(self._ctx, -1, keep, -1):
                self._api.c.llama_kv_cache_clear(self._ctx)
                keep = 0
            del self._cached[keep:]
        rest = list(tokens[keep:])
        # Batches of n_batch; smaller ones (appended to the cache) to report progress.
        n_batch = self.options.n_batch
        step = min(n_batch, _llm.PROGRESS_CHUNK) if progress else n_batch
        last = 0
        for at in range(0, len(rest), max(1, step)):
            last = self._eval(rest[at : at + step], keep + at)
            if progress is not None:
                progress(min(at + step, len(rest)), len(rest))
        pointer = self._api.c.llama_get_logits_ith(self._ctx, last)
        if not pointer:
            raise ModelError(f"ik_llama.cpp returned no logits for {self.name}.")
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def _eval(self, chunk: list[int], start: int) -> int:
        """Decode ``chunk`` at positions ``start...``; returns the batch index of its logits."""
        batch, n = self._batch, len(chunk)
        for i, token in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = start + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = int(i == n - 1)  # only the last token's logits are read
        batch.n_tokens = n
        status = self._api.c.llama_decode(self._ctx, batch)
        if status == 1:
            raise PromptTooLongError(
                f"{self.name}'s {self.options.n_ctx}-token context has no room for "
                f"{start + n} tokens; load it with a larger LLMOptions(n_ctx=...)."
            )
        if status != 0:
            raise ModelError(
                f"ik_llama.cpp failed to evaluate the prompt (llama_decode: {status})."
            )
        self._cached.extend(chunk)
        return n - 1
