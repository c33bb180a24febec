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
from bench.tuning import PipelineCounts, Tuning, load_tuning

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
#: Workers per stage where neither the config nor a calibration of this CPU says.
DEFAULT_DECODE_WORKERS = 2
DEFAULT_DETECT_WORKERS = 2
DEFAULT_EMBED_WORKERS = 2
DEFAULT_EMBED_BATCH = 64


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
    #: Image-decoding threads (0: inline).
    decode_workers: int = DEFAULT_DECODE_WORKERS
    #: Faces per recognition forward pass.
    embed_batch_size: int = DEFAULT_EMBED_BATCH
    #: Where the counts the config left null came from, for the run record.
    counts_source: str = "the config"

    @classmethod
    def from_config(
        cls, hardware: HardwareConfig, pipeline: PipelineConfig | None = None, method: str | None = None
    ) -> Runtime:
        """The runtime a run's ``hardware`` and ``pipeline`` groups ask for, on this machine:
        counts left null from this CPU's calibration of ``method`` (``bench.tuning``) when the
        stages overlap on the CPU and there is one, else from the built-in defaults."""
        pipeline = pipeline or PipelineConfig()
        device, note = _resolve_device(hardware.device, hardware.device_index)
        calibrated = method is not None and pipeline.overlap and pipeline.tuned and device.type == "cpu"
        tuning = load_tuning(method) if calibrated and method else None
        counts = _counts(hardware, pipeline, tuning)
        return cls(
            device,
            tuple(hardware.onnx_providers or default_providers(device)),
            counts.detect_threads,
            counts.embed_threads,
            note,
            counts.detect_workers,
            counts.embed_workers,
            counts.decode_workers,
            counts.embed_batch,
            tuning.describe()
            if tuning
            else "the config and the built-in defaults (no calibration: bench tune)",
        )

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


def _counts(hardware: HardwareConfig, pipeline: PipelineConfig, tuning: Tuning | None) -> PipelineCounts:
    """Each count as configured, else the calibration's, else the built-in default. A
    calibration's threads per worker hold only beside its own worker count: they were measured
    with it. Without overlap (the naive pipeline) one worker a stage, as configured."""
    tuned = tuning.counts if tuning else None

    def pick(configured: int | None, calibrated: int | None, default: int) -> int:
        return configured if configured is not None else calibrated if calibrated is not None else default

    decode = pick(hardware.num_workers, tuned and tuned.decode_workers, DEFAULT_DECODE_WORKERS)
    if not pipeline.overlap:
        detect_workers = embed_workers = 1
    else:
        detect_workers = pick(pipeline.detect_workers, tuned and tuned.detect_workers, DEFAULT_DETECT_WORKERS)
        embed_workers = pick(pipeline.embed_workers, tuned and tuned.embed_workers, DEFAULT_EMBED_WORKERS)
    detect_split, embed_split = thread_split(usable_cores(), pipeline.overlap, detect_workers, embed_workers)
    detect_threads = pick(
        hardware.detect_threads,
        tuned.detect_threads if tuned and tuned.detect_workers == detect_workers else None,
        detect_split,
    )
    embed_threads = pick(
        hardware.embed_threads,
        tuned.embed_threads if tuned and tuned.embed_workers == embed_workers else None,
        embed_split,
    )
    embed_batch = pick(hardware.embed_batch_size, tuned and tuned.embed_batch, DEFAULT_EMBED_BATCH)
    return PipelineCounts(decode, detect_workers, embed_workers, detect_threads, embed_threads, embed_batch)


def thread_split(cores: int, overlap: bool, detect_workers: int, embed_workers: int) -> tuple[int, int]:
    """Threads per detection and per recognition worker on ``cores`` cores: when the stages
    overlap, the detection workers split half the cores and the recognition workers the other
    half; when they run one after the other (one worker each), each stage in turn gets every
    core, as the libraries would by default."""
    share = max(1, cores // 2) if overlap else cores
    return max(1, share // detect_workers), max(1, share // embed_workers)
