"""Where and with how many threads everything runs, resolved once per run.

The ``hardware`` config says what is wanted (``device=auto``, ``onnx_providers=null``, thread
counts ``null``); ``Runtime.from_config`` turns that into what will be used (``cuda:0``, the
provider list, a thread count per stage) and checks it fits this machine. Every component
(detectors, the aligner, the recognition model, ONNX Runtime sessions) receives this one object
instead of resolving the device again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import torch

from bench.config import Device, HardwareConfig, PipelineConfig
from bench.cpu import usable_cores

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


@dataclass(frozen=True)
class Runtime:
    #: A concrete device: ``cpu`` or ``cuda:N``, never ``cuda`` without an index or ``auto``.
    device: torch.device
    #: ONNX Runtime execution providers, in order of preference; the first one must run.
    onnx_providers: tuple[str, ...]
    #: Threads of the detector's library (OpenCV, its ONNX Runtime session, torch for MTCNN).
    detect_threads: int
    #: Intra-op threads of each recognition worker.
    embed_threads: int
    #: How ``device=auto`` chose, for the run record; empty when nothing was chosen.
    note: str = ""
    #: Detection and recognition workers: the pipeline's when its stages overlap, else one each.
    detect_workers: int = 1
    embed_workers: int = 1

    @classmethod
    def from_config(cls, hardware: HardwareConfig, pipeline: PipelineConfig | None = None) -> Runtime:
        """The runtime a run's ``hardware`` and ``pipeline`` groups ask for, on this machine."""
        pipeline = pipeline or PipelineConfig()
        device, note = _resolve_device(hardware.device, hardware.device_index)
        detect_workers, embed_workers = (
            (pipeline.detect_workers, pipeline.embed_workers) if pipeline.overlap else (1, 1)
        )
        detect, embed = _thread_budget(hardware, pipeline.overlap, detect_workers, embed_workers)
        providers = hardware.onnx_providers or default_providers(device)
        return cls(device, tuple(providers), detect, embed, note, detect_workers, embed_workers)

    @classmethod
    def local(cls, device: str = "cpu", threads: int | None = None) -> Runtime:
        """A runtime for library use: ``device`` as ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``."""
        kind, _, index = device.partition(":")
        try:
            wanted = Device(kind)
        except ValueError:
            raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
        hardware = HardwareConfig(
            device=wanted,
            device_index=int(index) if index else None,
            detect_threads=threads,
            embed_threads=threads,
        )
        return cls.from_config(hardware, PipelineConfig(overlap=False))

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def device_name(self) -> str:
        """``"cpu"`` or ``"cuda:N"``, as the run record shows it."""
        return str(self.device)

    def apply_thread_pools(self) -> None:
        """Size the process-wide pools: OpenCV's for detection; torch's is shared by MTCNN and a
        torch recognition model, so it gets the larger of the two budgets."""
        cv2.setNumThreads(self.detect_threads)
        torch.set_num_threads(max(self.detect_threads, self.embed_threads))


def default_providers(device: torch.device) -> list[str]:
    """CUDA then the CPU on a GPU (ONNX Runtime places ops CUDA cannot run), the CPU alone otherwise."""
    return [CUDA_PROVIDER, CPU_PROVIDER] if device.type == "cuda" else [CPU_PROVIDER]


def _resolve_device(wanted: Device, index: int | None) -> tuple[torch.device, str]:
    if wanted is Device.cpu:
        return torch.device("cpu"), ""
    available = torch.cuda.is_available()
    if wanted is Device.auto and not available:
        note = "auto: no CUDA device, fell back to the CPU"
        log.warning("hardware.device=%s", note)
        return torch.device("cpu"), note
    if not available:
        raise RuntimeError(
            f"hardware.device=cuda, but CUDA is not available to this PyTorch (torch {torch.__version__}, "
            f"built for CUDA {torch.version.cuda}); use hardware=cpu or hardware=auto"
        )
    count = torch.cuda.device_count()
    chosen = torch.cuda.current_device() if index is None else index
    if chosen >= count:
        raise RuntimeError(f"hardware.device_index={chosen}, but this machine has {count} CUDA device(s)")
    device = torch.device("cuda", chosen)
    note = f"auto: CUDA device {torch.cuda.get_device_name(device)} found" if wanted is Device.auto else ""
    return device, note


def _thread_budget(
    hardware: HardwareConfig, overlap: bool, detect_workers: int, embed_workers: int
) -> tuple[int, int]:
    """``null`` thread counts: when the stages overlap, the detection workers split half the
    cores and the recognition workers the other half; when they run one after the other
    (one worker each), each stage in turn gets every core, as the libraries would by default."""
    cores = usable_cores()
    share = max(1, cores // 2) if overlap else cores
    detect = max(1, share // detect_workers) if hardware.detect_threads is None else hardware.detect_threads
    embed = max(1, share // embed_workers) if hardware.embed_threads is None else hardware.embed_threads
    return detect, embed
