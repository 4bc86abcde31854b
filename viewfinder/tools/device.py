"""Which device and dtype the torch models run on: what exists, unless the user says otherwise.

``"auto"`` picks the first CUDA GPU when torch sees one (bfloat16 where the GPU supports it,
else float16: half the memory and several times the speed of float32 on tensor cores), and
the CPU in float32 otherwise (CPU half precision is slower than float32 in torch). An explicit
``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``--device`` / ``VIEWFINDER_DEVICE``) overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DeviceError, require

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N")


@dataclass(frozen=True)
class Placement:
    """Where a model runs."""

    # torch device string: "cpu", "cuda" or "cuda:N".
    device: str
    # torch dtype name: "float32" on the CPU, "bfloat16" or "float16" on a GPU.
    dtype: str

    @property
    def is_cuda(self) -> bool:
        """True on a GPU."""
        return self.device.startswith("cuda")

    def torch_dtype(self):  # noqa: ANN201 - a torch.dtype
        """The dtype as a torch object."""
        return getattr(require("torch", "clip", "Choosing a device"), self.dtype)

    def batch(self, cpu: int, gpu: int) -> int:
        """``gpu`` on a GPU (large batches fill it), else ``cpu`` (bounds CPU memory)."""
        return gpu if self.is_cuda else cpu


def pick_device(requested: str | None = "auto") -> Placement:
    """The device and dtype to run on.

    Args:
        requested: ``"auto"`` (or None), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        DeviceError: not a device name, or a GPU was asked for and torch sees none.
    """
    name = (requested or "auto").strip().lower()
    valid = name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())
    if not valid:
        raise DeviceError(f"Unknown device {requested!r}; valid: {list(DEVICE_NAMES)}.")
    if name == "cpu":
        return Placement("cpu", "float32")
    torch = require("torch", "clip", "Choosing a device")
    if not torch.cuda.is_available():
        if name == "auto":
            return Placement("cpu", "float32")
        raise DeviceError(
            f"Device {requested!r} asked for, but torch sees no CUDA GPU (torch "
            f"{torch.__version__}); use --device cpu (or auto), or install a CUDA build of torch."
        )
    device = "cuda" if name == "auto" else name
    index = int(device[5:]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"Device {requested!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s); "
            "use cuda:0 .. cuda:N-1 or auto."
        )
    with torch.cuda.device(index):
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return Placement(device, dtype)
