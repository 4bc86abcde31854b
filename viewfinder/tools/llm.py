"""Text LLM: chat answers and multiple-choice scoring from next-token likelihoods.

Usage::

    llm = load_llm("qwen2.5-0.5b")
    llm.generate("Answer in plain words, no code.", "Context: ...\\nQuestion: ...").text
    llm.choose(system, "Context ...\\nQuestion ...\\n(A) Monday\\n(B) Thursday", "AB")
    # -> {"A": 0.03, "B": 0.97}

Multiple choice follows MLVU's official prompt style: the assistant turn starts with
``"Best Option: ("`` and the option letters are scored by the probability the model gives
each letter token at the next position. Nothing is parsed out of free text, so a small model
cannot fail by answering in the wrong format, and the scores double as a confidence.

Backends share one greedy decoding loop (:class:`TextLLM`); each only tokenises, applies its
chat template and returns the logits of the next token, reusing the cached prefix (the KV
cache) when a prompt extends or shares the start of the previous one. Weights load lazily on
first use; ``runtime.Models`` keeps the one instance a process shares.

The llama.cpp and transformers backends live here, next to ``TextLLM``'s shared scoring
and prompt-caching logic and the module-level knobs (``PROGRESS_CHUNK``,
``AVAILABLE_BACKENDS``, ``ALL_BACKENDS``) that tests and the bench use. The ik_llama.cpp
backend, a ctypes binding of its own, is in ``ik_llama.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import (
    InvalidQuestionError,
    MissingDependencyError,
    ModelError,
    PromptTooLongError,
    UnknownBackendError,
    require,
)
from ..models import resolve
from ..registry import LazyRegistry

logger = logging.getLogger(__name__)

DEFAULT_LLM = "qwen2.5-1.5b"
# ``progress(done, total)`` in tokens: prompt tokens read, then tokens written.
TokenProgress = Callable[[int, int], None]
# Prompt tokens evaluated between two progress reports (when someone is watching).
PROGRESS_CHUNK = 128
# MLVU's official multiple-choice answer prefix (the model continues with the letter).
MLVU_ANSWER_PREFIX = "Best Option: ("
# Used only when a GGUF file carries no chat template of its own.
_CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class LLMOptions:
    """How a text LLM is loaded and decodes."""

    # Context window in tokens (prompt + answer); memory for the KV cache grows with it.
    n_ctx: int = 4096
    # CPU threads for prompt evaluation and generation (at most).
    threads: int = 2
    # Before each call, use only as many of ``threads`` as there are cores other programs
    # leave free (tools/cpu.py): on a shared machine one thread on a free core beats two.
    adapt_threads: bool = True
    # Seed for sampling when temperature > 0 (greedy decoding ignores it).
    seed: int = 0
    # 0 = greedy decoding, which is deterministic; > 0 samples from softmax(logits / T).
    temperature: float = 0.0
    # Tokens evaluated per forward pass while reading a prompt (llama.cpp's n_batch).
    n_batch: int = 512


@dataclass(frozen=True)
class Generation:
    """One generated answer and what it cost."""

    # Generated text after the assistant prefix (stop strings excluded), whitespace-stripped.
    text: str
    # Prompt tokens, chat template and assistant prefix included.
    tokens_in: int
    # Generated tokens (the end-of-turn token excluded).
    tokens_out: int
    # Mean log-probability of the generated tokens (0.0 when none); a rough confidence.
    mean_logprob: float
    # Wall time of the whole call, prompt evaluation included.
    seconds: float
    # Wall time until the first token's logits (prompt evaluation).
    prompt_seconds: float = 0.0
    # "stop" (end of turn or a stop string) or "length" (max_tokens or context exhausted).
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Choice:
    """The most likely option of a multiple-choice question."""

    letter: str
    probability: float


def best_choice(probabilities: dict[str, float]) -> Choice:
    """The option with the highest probability in a :meth:`TextLLM.choose` result."""
    if not probabilities:
        raise InvalidQuestionError("No options to choose from; give at least two option letters.")
    letter = max(probabilities, key=probabilities.__getitem__)
    return Choice(letter, probabilities[letter])


class TextLLM(ABC):
    """A chat LLM that generates greedily and scores option letters.

    Subclasses implement tokenisation, the chat template and :meth:`_next_logits`; the
    decoding and scoring logic lives here so every backend behaves the same.
    """

    BACKEND_NAME: ClassVar[str]

    def __init__(
        self, model_path: Path, options: LLMOptions | None = None, name: str | None = None
    ) -> None:
        self.model_path = Path(model_path)
        self.options = options or LLMOptions()
        self.name = name or self.model_path.name
        self._lock = threading.RLock()  # one decoding state (KV cache) per instance
        self._loaded = False

    # ------------------------------------------------------------------ backend primitives

    @abstractmethod
    def _load(self) -> None:
        """Load weights and tokenizer (called once, lazily)."""

    @abstractmethod
    def _chat_text(self, system: str, user: str) -> str:
        """The chat template applied to a system + user turn, ending where the assistant speaks."""

    @abstractmethod
    def _encode_prompt(self, text: str) -> list[int]:
        """Token ids of a templated prompt (special tokens parsed; BOS added if the model wants)."""

    @abstractmethod
    def _encode_plain(self, text: str) -> list[int]:
        """Token ids of plain text (no special tokens, no BOS)."""

    @abstractmethod
    def _decode(self, tokens: Sequence[int]) -> bytes:
        """UTF-8 bytes of ``tokens`` (special tokens rendered as nothing)."""

    @abstractmethod
    def _is_end(self, token: int) -> bool:
        """Whether ``token`` ends the assistant's turn (EOS / end-of-turn)."""

    @abstractmethod
    def _next_logits(
        self, tokens: Sequence[int], progress: TokenProgress | None = None
    ) -> np.ndarray:
        """Float32 logits of the token that follows ``tokens`` (reusing the cached prefix);
        ``progress(done, new)`` counts the prompt tokens evaluated of those not cached."""

    def _prepare_call(self) -> None:  # noqa: B027 - optional hook
        """Adjust to the machine before a call (llama.cpp: the thread count)."""

    def _free_threads(self) -> int | None:
        """Threads for the next call, as many as the free cores allow (None: keep them).

        Recorded in ``threads_in_use``; the GGUF backends apply it in ``_prepare_call``.
        """
        if not self.options.adapt_threads:
            return None
        from .cpu import FreeCores

        if getattr(self, "_free_cores", None) is None:
            self._free_cores = FreeCores()
        threads = self._free_cores.threads(self.options.threads)
        if threads != getattr(self, "threads_in_use", self.options.threads):
            logger.debug("%s: %d thread(s) (others keep the rest busy)", self.BACKEND_NAME, threads)
        self.threads_in_use = threads
        return threads

    @property
    def n_ctx(self) -> int:
        """Context window in tokens."""
        return self.options.n_ctx

    # ------------------------------------------------------------------ public API

    def load(self) -> TextLLM:
        """Load the weights now (otherwise they load on first use); returns ``self``."""
        with self._lock:
            if not self._loaded:
                start = time.perf_counter()
                self._load()
                self._loaded = True
                logger.info(
                    "Loaded %s (%s) in %.1f s",
                    self.name,
                    self.BACKEND_NAME,
                    time.perf_counter() - start,
                )
        return self

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes as plain text (what a context budget counts)."""
        with self._lock:
            self.load()
            return len(self._encode_plain(text))

    def count_prompt_tokens(self, system: str, user: str, assistant_prefix: str = "") -> int:
        """Tokens of a full chat prompt: template, system and user turns, assistant prefix."""
        with self._lock:
            self.load()
            return len(self._encode_prompt(self._chat_text(system, user) + assistant_prefix))

    def generate(
        self,
        system: str,
        user: str,
        max_tokens: int = 64,
        stop: Sequence[str] | None = None,
        assistant_prefix: str = "",
        progress: TokenProgress | None = None,
    ) -> Generation:
        """Answer a chat turn (greedy unless ``options.temperature > 0``).

        Args:
            system: System message (instructions). Small models need explicit ones, e.g.
                "Answer in one sentence, in plain words, no code."
            user: User message (context and question).
            max_tokens: Most tokens to generate.
            stop: Strings that end the answer (not included in it).
            assistant_prefix: Text the assistant turn starts with; the model continues it and
                the returned text excludes it.
            progress: ``progress(done, total)`` in tokens while the prompt is read (the
                uncached part) and the answer written; ``total`` counts ``max_tokens`` until
                the answer ends.

        Returns:
            The :class:`Generation`.

        Raises:
            PromptTooLongError: The prompt does not fit ``n_ctx``.
        """
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        stops = [s for s in (stop or []) if s]
        with self._lock:
            self.load()
            self._prepare_call()
            start = time.perf_counter()
            prompt = self._prompt_tokens(system, user, assistant_prefix, reserve=1)
            budget = min(max_tokens, self.n_ctx - len(prompt))
            rng = np.random.default_rng(self.options.seed)
            read = [0]  # uncached prompt tokens

            def on_prompt(done: int, new: int) -> None:
                read[0] = new
                if progress is not None:
                    progress(done, new + budget)

            logits = self._next_logits(prompt, on_prompt)
            prompt_seconds = time.perf_counter() - start
            out: list[int] = []
            logprobs: list[float] = []
            text, finish = "", "length"
            while len(out) < budget:
                token = self._pick(logits, rng)
                if self._is_end(token):
                    finish = "stop"
                    break
                out.append(token)
                logprobs.append(float(_log_softmax(logits)[token]))
                text = self._decode(out).decode("utf-8", errors="ignore")
                cut = _first_stop(text, stops)
                if cut is not None:
                    text, finish = text[:cut], "stop"
                    break
                if progress is not None:
                    progress(read[0] + len(out), read[0] + budget)
                if len(out) < budget:
                    logits = self._next_logits(prompt + out)
            if progress is not None:
                progress(read[0] + len(out), read[0] + len(out))
            seconds = time.perf_counter() - start
        return Generation(
            text=text.strip(),
            tokens_in=len(prompt),
            tokens_out=len(out),
            mean_logprob=float(np.mean(logprobs)) if logprobs else 0.0,
            seconds=seconds,
            prompt_seconds=prompt_seconds,
            finish_reason=finish,
        )

    def choose(
        self,
        system: str,
        user: str,
        letters: Sequence[str],
        assistant_prefix: str = MLVU_ANSWER_PREFIX,
        progress: TokenProgress | None = None,
    ) -> dict[str, float]:
        """Probability of each option letter as the model's next token after ``assistant_prefix``.

        The letter token is read with and without a leading space (both spellings count), and
        the probabilities are normalised over the given letters only.

        Args:
            system: System message.
            user: User message; it should list the options as ``(A) ...`` lines.
            letters: Option letters, e.g. ``"ABCD"`` or ``["A", "B"]``.
            assistant_prefix: Text the assistant turn starts with (MLVU: ``"Best Option: ("``).
            progress: ``progress(done, total)``: prompt tokens read of those not cached.

        Returns:
            ``{letter: probability}`` in the order of ``letters``, summing to 1.

        Raises:
            InvalidQuestionError: Fewer than two letters, duplicates or blanks.
            PromptTooLongError: The prompt does not fit ``n_ctx``.
            ModelError: The prefix and a letter merge into one token, so the letter cannot be
                read at the next position (end the prefix with "(" or a space).
        """
        letters = _check_letters(letters)
        with self._lock:
            self.load()
            self._prepare_call()
            text = self._chat_text(system, user) + assistant_prefix
            prompt = self._prompt_tokens_of(text, reserve=1)
            candidates = self._letter_tokens(text, prompt, letters)
            logprobs = _log_softmax(self._next_logits(prompt, progress))
        scores = np.array([np.logaddexp.reduce(logprobs[ids]) for ids in candidates.values()])
        mass = float(np.exp(scores).sum())
        if mass < 0.5:  # the model wanted to say something else: scores are less reliable
            logger.debug("Option letters hold only %.2f of the next-token probability", mass)
        probs = np.exp(scores - np.logaddexp.reduce(scores))
        return {letter: float(p) for letter, p in zip(candidates, probs, strict=True)}

    def close(self) -> None:
        """Free the weights (the instance reloads them if used again)."""
        with self._lock:
            self._unload()
            self._loaded = False

    def _unload(self) -> None:  # noqa: B027 - optional hook
        """Release backend resources."""

    # ------------------------------------------------------------------ helpers

    def _prompt_tokens(self, system: str, user: str, prefix: str, reserve: int) -> list[int]:
        return self._prompt_tokens_of(self._chat_text(system, user) + prefix, reserve)

    def _prompt_tokens_of(self, text: str, reserve: int) -> list[int]:
        tokens = self._encode_prompt(text)
        if len(tokens) + reserve > self.n_ctx:
            raise PromptTooLongError(
                f"The prompt has {len(tokens)} tokens but {self.name} was loaded with a "
                f"{self.n_ctx}-token context. Shorten the context you give it (check with "
                f"count_prompt_tokens()) or load it with a larger LLMOptions(n_ctx=...)."
            )
        return tokens

    def _letter_tokens(
        self, text: str, prompt: list[int], letters: list[str]
    ) -> dict[str, list[int]]:
        """Token ids that spell each letter right after ``prompt`` (with/without a space)."""
        found: dict[str, list[int]] = {}
        owner: dict[int, str] = {}
        for letter in letters:
            ids: list[int] = []
            for spelling in (letter, " " + letter):
                full = self._encode_prompt(text + spelling)
                if full[: len(prompt)] != prompt or len(full) == len(prompt):
                    continue  # the spelling merges with the prefix's last token
                token = full[len(prompt)]
                # Only a token that is the spelling itself (not a longer word) counts.
                if self._decode([token]).decode("utf-8", errors="ignore").strip() != letter:
                    continue
                if token in owner and owner[token] != letter:
                    raise ModelError(
                        f"Options {owner[token]!r} and {letter!r} share the token "
                        f"{token}; use distinct single-letter options (A-F)."
                    )
                owner[token] = letter
                if token not in ids:
                    ids.append(token)
            if not ids:
                raise ModelError(
                    f"Option {letter!r} cannot be read as the next token after the assistant "
                    f"prefix {text[-20:]!r} with {self.name}'s tokenizer. End the prefix with "
                    "'(' or a space, e.g. the MLVU prefix 'Best Option: ('."
                )
            found[letter] = ids
        return found

    def _pick(self, logits: np.ndarray, rng: np.random.Generator) -> int:
        temperature = self.options.temperature
        if temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / temperature
        probs = np.exp(scaled - scaled.max())
        return int(rng.choice(len(probs), p=probs / probs.sum()))


def _check_letters(letters: Sequence[str]) -> list[str]:
    result = list(letters)
    if len(result) < 2:
        raise InvalidQuestionError(
            f"Got {len(result)} option letter(s); a multiple-choice "
            "question needs at least two, e.g. letters='ABCD'."
        )
    if any(not isinstance(x, str) or not x.strip() or x != x.strip() for x in result):
        raise InvalidQuestionError(
            f"Option letters must be non-blank strings without surrounding spaces, got {result!r}."
        )
    if len(set(result)) != len(result):
        raise InvalidQuestionError(
            f"Option letters repeat: {result!r}; give each option its own letter."
        )
    return result


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    top = x.max()
    return x - (top + np.log(np.exp(x - top).sum()))


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None


def _common_prefix(a: np.ndarray, b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n], dtype=np.asarray(a).dtype))
    return int(diff[0]) if len(diff) else n


# ---------------------------------------------------------------------- llama.cpp backend


class LlamaCppLLM(TextLLM):
    """GGUF models on llama.cpp (llama-cpp-python): the fast CPU path."""

    BACKEND_NAME = "llama.cpp"

    def _load(self) -> None:
        llama_cpp = require("llama_cpp", "llm", "The text LLM (llama.cpp backend)")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        opts = self.options
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=opts.n_ctx,
                n_batch=opts.n_batch,
                n_threads=opts.threads,
                n_threads_batch=opts.threads,
                seed=opts.seed,
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise ModelError(
                f"llama.cpp could not load {self.model_path}: {e}. Check that the "
                "file is a complete GGUF model (re-install its package)."
            ) from e
        self._lib = llama_cpp
        self._n_vocab = self._llm.n_vocab()
        meta = self._llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            logger.warning("%s has no chat template; using ChatML", self.model_path.name)
        vocab = self._llm._model  # token texts for the template
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        self._bos_text = vocab.token_get_text(bos) if bos >= 0 else ""
        self._formatter = Jinja2ChatFormatter(
            template=template or _CHATML_TEMPLATE,
            eos_token=vocab.token_get_text(eos) if eos >= 0 else "",
            bos_token=self._bos_text,
            add_generation_prompt=True,
        )

    def _unload(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            del self._llm

    def _chat_text(self, system: str, user: str) -> str:
        return self._formatter(messages=_messages(system, user)).prompt

    def _encode_prompt(self, text: str) -> list[int]:
        # llama.cpp adds BOS only for models whose vocabulary asks for it; templates that
        # write the BOS text themselves must not get a second one.
        add_bos = not (self._bos_text and text.startswith(self._bos_text))
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _encode_plain(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def _decode(self, tokens: Sequence[int]) -> bytes:
        return self._llm.detokenize(list(tokens))

    def _is_end(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._llm._model.vocab, token))

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens the KV cache holds (what the next prompt can reuse)."""
        return list(self._llm.input_ids[: self._llm.n_tokens])

    def _prepare_call(self) -> None:
        threads = self._free_threads()
        if threads is not None:
            self._lib.llama_set_n_threads(self._llm.ctx, threads, threads)

    def _next_logits(
        self, tokens: Sequence[int], progress: TokenProgress | None = None
    ) -> np.ndarray:
        llm = self._llm
        keep = _common_prefix(llm.input_ids[: llm.n_tokens], tokens)
        keep = min(keep, len(tokens) - 1)  # re-evaluate at least one token to get its logits
        llm.n_tokens = keep  # eval() drops the KV cache beyond n_tokens
        rest = list(tokens[keep:])
        # One eval() when nobody watches; chunks (appended to the cache) to report progress.
        step = min(self.options.n_batch, PROGRESS_CHUNK) if progress else len(rest)
        for at in range(0, len(rest), max(1, step)):
            llm.eval(rest[at : at + step])
            if progress is not None:
                progress(min(at + step, len(rest)), len(rest))
        pointer = self._lib.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()


# ---------------------------------------------------------------------- transformers backend


class TransformersLLM(TextLLM):
    """GGUF models dequantised into transformers (slow, several GB of RAM): a fallback only."""

    BACKEND_NAME = "transformers"

    def _load(self) -> None:
        purpose = "The text LLM (transformers fallback)"
        torch = require("torch", "llm-transformers", purpose)
        require("gguf", "llm-transformers", purpose)
        transformers = require("transformers", "llm-transformers", purpose)
        torch.set_num_threads(self.options.threads)
        folder, filename = str(self.model_path.parent), self.model_path.name
        # The GGUF conversion draws a tqdm bar on stderr; keep it out of the user's output.
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured):
                self._tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=filename)
                self._model = transformers.AutoModelForCausalLM.from_pretrained(
                    folder, gguf_file=filename, dtype=torch.float32
                )
        except (ValueError, OSError, RuntimeError) as e:
            raise ModelError(
                f"transformers could not load {self.model_path}: {e}. Install "
                "llama.cpp instead: pip install 'viewfinder[llm]'"
            ) from e
        logger.debug("transformers load output: %s", captured.getvalue()[-2000:])
        self._model.eval()
        self._torch = torch
        if not self._tok.chat_template:
            logger.warning("%s has no chat template; using ChatML", self.model_path.name)
            self._tok.chat_template = _CHATML_TEMPLATE
        self._cache: Any = None  # past_key_values of the last evaluated tokens
        self._cached: list[int] = []
        ends = {self._tok.eos_token_id, self._model.generation_config.eos_token_id}
        self._ends = {int(t) for e in ends if e is not None for t in np.atleast_1d(e)}
        for special in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
            token = self._tok.convert_tokens_to_ids(special)
            if isinstance(token, int) and token != self._tok.unk_token_id:
                self._ends.add(token)

    def _unload(self) -> None:
        for attr in ("_model", "_tok", "_cache"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._cached = []

    def _chat_text(self, system: str, user: str) -> str:
        return self._tok.apply_chat_template(
            _messages(system, user), tokenize=False, add_generation_prompt=True
        )

    def _encode_prompt(self, text: str) -> list[int]:
        # The chat template already wrote every special token the model expects.
        return list(self._tok(text, add_special_tokens=False)["input_ids"])

    def _encode_plain(self, text: str) -> list[int]:
        return list(
            self._tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        )

    def _decode(self, tokens: Sequence[int]) -> bytes:
        return self._tok.decode(list(tokens), skip_special_tokens=True).encode("utf-8")

    def _is_end(self, token: int) -> bool:
        return token in self._ends

    def _next_logits(
        self, tokens: Sequence[int], progress: TokenProgress | None = None
    ) -> np.ndarray:
        torch = self._torch
        keep = min(
            _common_prefix(np.asarray(self._cached, dtype=np.int64), tokens), len(tokens) - 1
        )
        if keep == 0:
            self._cache = None
        elif keep < len(self._cached):
            # A negative count removes that many tokens in transformers 4.x and 5.x alike.
            self._cache.crop(keep - len(self._cached))
        new = torch.tensor([list(tokens[keep:])], dtype=torch.long)
        with torch.inference_mode():
            out = self._model(input_ids=new, past_key_values=self._cache, use_cache=True)
        self._cache = out.past_key_values
        self._cached = list(tokens)
        if progress is not None:
            progress(len(tokens) - keep, len(tokens) - keep)
        return out.logits[0, -1].float().numpy().astype(np.float32)


def _messages(system: str, user: str) -> list[dict[str, str]]:
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": user}]


# ---------------------------------------------------------------------- selection and loading


def _if_importable(backend: type[TextLLM], *modules: str) -> type[TextLLM] | None:
    # find_spec does not import: checking costs nothing at import time.
    return backend if all(importlib.util.find_spec(m) for m in modules) else None


def _ik_llama(installed: bool) -> type[TextLLM] | None:
    # Imported here, not at the top: ik_llama.py subclasses TextLLM from this module.
    from .ik_llama import IkLlamaLLM, cpu_supported

    if not installed:
        return IkLlamaLLM
    return _if_importable(IkLlamaLLM, "ik_llama_cpp") if cpu_supported() else None


def _gguf_first(installed: bool) -> list[type[TextLLM] | None]:
    """The backends in preference order; with ``installed``, only those usable here."""
    if not installed:
        return [_ik_llama(False), LlamaCppLLM, TransformersLLM]
    return [
        _ik_llama(True),
        _if_importable(LlamaCppLLM, "llama_cpp"),
        _if_importable(TransformersLLM, "transformers", "gguf", "torch"),
    ]


# Preference order: ik_llama.cpp (prebuilt wheel, the fastest per CPU-second), llama.cpp
# (llama-cpp-python, compiled at install), transformers (5-30x slower on CPU).
def _registry(installed: bool) -> LazyRegistry[type[TextLLM]]:
    # Listed on first use: ik_llama.py imports this module.
    label = "AVAILABLE_BACKENDS" if installed else "ALL_BACKENDS"
    return LazyRegistry(lambda: _gguf_first(installed), label)


AVAILABLE_BACKENDS: Mapping[str, type[TextLLM]] = _registry(installed=True)
ALL_BACKENDS: Mapping[str, type[TextLLM]] = _registry(installed=False)


def load_llm(
    name: str = DEFAULT_LLM,
    options: LLMOptions | None = None,
    cache_dir: Path | None = None,
    backend: str | None = None,
) -> TextLLM:
    """The text LLM ``name`` (a registry name or a path to a .gguf file).

    Weights load on first use. Each call builds a new instance: keep it (``runtime.Models``
    does, so one loaded model serves every question).

    Args:
        name: Registry name (see ``viewfinder models``) or a local GGUF path.
        options: Loading and decoding options.
        cache_dir: Cache root for assembled weights (default: the viewfinder cache).
        backend: "ik_llama", "llama.cpp" or "transformers"; None = the fastest installed.

    Raises:
        UnknownModelError: ``name`` is not registered (the message lists valid names).
        ModelNotInstalledError: The weights are not installed (the message says how).
        MissingDependencyError: No backend is installed (names the 'llm' extra).
    """
    options = options or LLMOptions()
    path = resolve("llm", name, cache_dir).path
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) != 1:
            raise ModelError(f"{path} holds {len(ggufs)} .gguf files; pass the path of one.")
        path = ggufs[0]
    return _pick_backend(backend)(path, options, name)


def _pick_backend(backend: str | None) -> type[TextLLM]:
    if backend is not None:
        if backend not in ALL_BACKENDS:
            raise UnknownBackendError(
                f"Unknown LLM backend {backend!r}; valid backends are {list(ALL_BACKENDS)}"
            )
        return ALL_BACKENDS[backend]
    if not AVAILABLE_BACKENDS:
        raise MissingDependencyError("ik-llama-cpp-python", "llm", "The text LLM")
    choice = next(iter(AVAILABLE_BACKENDS.values()))
    if choice is TransformersLLM:
        logger.warning(
            "Neither ik-llama-cpp-python nor llama-cpp-python is installed; using the much "
            "slower transformers backend. Install one with: pip install 'viewfinder[llm]'"
        )
    return choice
