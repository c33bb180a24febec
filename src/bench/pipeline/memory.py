"""Memory of one run over time: process RSS and, on CUDA, torch's allocator and the device."""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

import psutil
import pynvml
import torch

from bench.metrics import keys

log = logging.getLogger(__name__)

MIB = 2**20
#: The GPU series of a ``MemorySample``, in the order they are written and logged.
GPU_SERIES = keys.GPU_SERIES
DEFAULT_PHASE = "run"
#: Phase names become part of metric names, so they are kept to what MLflow accepts everywhere.
_PHASE_NAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class MemorySample:
    """One reading, in MiB. GPU fields are NaN where they were not (or could not be) sampled."""

    seconds: float
    phase: str
    rss_mb: float
    #: Bytes held by live tensors (``torch.cuda.memory_allocated``).
    gpu_allocated_mb: float = math.nan
    #: Bytes torch's caching allocator holds from the driver (``torch.cuda.memory_reserved``).
    gpu_reserved_mb: float = math.nan
    #: Device memory in use as NVML sees it: includes the CUDA context, other libraries'
    #: allocations (ONNX Runtime, ...) and other processes on the same GPU.
    gpu_used_mb: float = math.nan


def trace_series(trace: Sequence[MemorySample]) -> tuple[str, ...]:
    """The series a trace carries: ``rss_mb``, plus all GPU series if any GPU value was sampled.

    All GPU series go together so a series NVML failed to sample shows up as NaN, not missing.
    """
    sampled = any(not math.isnan(getattr(s, name)) for s in trace for name in GPU_SERIES)
    return (keys.RSS_MB, *GPU_SERIES) if sampled else (keys.RSS_MB,)


def _peak(values: Iterable[float]) -> float:
    """Largest non-NaN value; NaN if there is none, so a missing series never reads as 0."""
    return max((v for v in values if not math.isnan(v)), default=math.nan)


class MemorySampler:
    """Samples memory on a background thread while the run is in the ``with``.

    ``ru_maxrss`` would give the process's lifetime peak, which a second job of a multirun
    inherits from the first; sampling gives each run its own peak and a trace over time.
    With ``cuda`` (and a GPU present) it also samples torch's allocated and reserved memory
    on ``device_index`` and NVML's device-wide memory in use, which sees what torch does not
    (CUDA context, ONNX Runtime). If NVML is unavailable, ``nvml_error`` says why and that
    series stays NaN.

    ``phase(name)`` labels the samples taken inside it so peaks can be split per phase.
    """

    def __init__(self, interval_s: float = 0.25, cuda: bool = False, device_index: int = 0) -> None:
        self.interval_s = interval_s
        self.cuda = cuda and torch.cuda.is_available()
        self.device_index = device_index
        self.trace: list[MemorySample] = []
        #: Why NVML could not be used on a CUDA run; ``None`` when it worked (or on the CPU).
        self.nvml_error: str | None = None
        self._process = psutil.Process()
        # Guards the phase label and the trace, so samples from both threads stay in time order.
        self._lock = threading.Lock()
        self._phase = DEFAULT_PHASE
        self._running = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._start = 0.0
        self._nvml_initialised = False
        self._nvml_handle: object | None = None
        #: Torch's exact peaks (allocated, reserved) in MiB, frozen on exit so that work done
        #: after the ``with`` (evaluation) does not count.
        self._torch_peaks: tuple[float, float] | None = None

    def __enter__(self) -> MemorySampler:
        self._start = time.perf_counter()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device_index)
            self._init_nvml()
        self._running = True
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._running = False
        if self.cuda:
            self._torch_peaks = self._read_torch_peaks()
        if self._nvml_initialised:
            # The run is over and its figures are taken; a failing shutdown must not fail it.
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()
            self._nvml_initialised = False

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Label the samples taken inside with ``name``; one sample is taken on entering and one
        on leaving, so even a phase shorter than ``interval_s`` has a value.

        Phases do not nest (a sample has one label): entering one inside another raises.
        """
        if not _PHASE_NAME.fullmatch(name):
            raise ValueError(f"phase name {name!r} must match {_PHASE_NAME.pattern}")
        if not self._running:
            raise RuntimeError("phase() is only valid inside the sampler's `with`")
        with self._lock:
            if self._phase != DEFAULT_PHASE:
                raise RuntimeError(f"phase {name!r} entered inside phase {self._phase!r}")
            self._phase = name
        try:
            self._sample()
            yield
        finally:
            self._sample()
            with self._lock:
                self._phase = DEFAULT_PHASE

    def peaks(self) -> dict[str, float]:
        """Peak MiB per metric name: overall and per phase (``<name>_<phase>``).

        ``peak_gpu_allocated_mb`` and ``peak_gpu_reserved_mb`` are torch's exact peaks; all
        per-phase values and ``peak_gpu_used_mb`` are the largest sample, NaN where unsampled.
        """
        with self._lock:
            trace = list(self.trace)
        series = (keys.RSS_MB, *GPU_SERIES) if self.cuda else (keys.RSS_MB,)
        peaks = {keys.PEAK_RSS_MB: _peak(s.rss_mb for s in trace)}
        if self.cuda:
            allocated, reserved = self._torch_peaks or self._read_torch_peaks()
            peaks.update(
                {
                    keys.PEAK_GPU_ALLOCATED_MB: allocated,
                    keys.PEAK_GPU_RESERVED_MB: reserved,
                    keys.PEAK_GPU_USED_MB: _peak(s.gpu_used_mb for s in trace),
                }
            )
        for phase in dict.fromkeys(s.phase for s in trace):
            samples = [s for s in trace if s.phase == phase]
            for name in series:
                peaks[keys.peak(name, phase)] = _peak(getattr(s, name) for s in samples)
        return peaks

    @property
    def peak_rss_mb(self) -> float:
        return self.peaks()[keys.PEAK_RSS_MB]

    @property
    def peak_gpu_mb(self) -> float:
        """Peak memory allocated by torch on the GPU (exact, not sampled); 0 on the CPU."""
        return self.peaks()[keys.PEAK_GPU_ALLOCATED_MB] if self.cuda else 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        rss = self._process.memory_info().rss / MIB
        gpu: dict[str, float] = {}
        if self.cuda:
            gpu = {
                "gpu_allocated_mb": torch.cuda.memory_allocated(self.device_index) / MIB,
                "gpu_reserved_mb": torch.cuda.memory_reserved(self.device_index) / MIB,
                "gpu_used_mb": self._nvml_used_mb(),
            }
        with self._lock:
            seconds = time.perf_counter() - self._start
            self.trace.append(MemorySample(seconds, self._phase, rss, **gpu))

    def _read_torch_peaks(self) -> tuple[float, float]:
        return (
            torch.cuda.max_memory_allocated(self.device_index) / MIB,
            torch.cuda.max_memory_reserved(self.device_index) / MIB,
        )

    def _init_nvml(self) -> None:
        """Find the device in NVML by PCI bus id: NVML numbers GPUs regardless of
        ``CUDA_VISIBLE_DEVICES``, so CUDA's index is not NVML's."""
        try:
            pynvml.nvmlInit()
            self._nvml_initialised = True
            props = torch.cuda.get_device_properties(self.device_index)
            bus_id = f"{props.pci_domain_id:x}:{props.pci_bus_id:x}:{props.pci_device_id:x}.0"
            self._nvml_handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)
        except pynvml.NVMLError as error:
            self._nvml_failed(error)

    def _nvml_used_mb(self) -> float:
        if self._nvml_handle is None:
            return math.nan
        try:
            return pynvml.nvmlDeviceGetMemoryInfo(self._nvml_handle).used / MIB
        except pynvml.NVMLError as error:
            self._nvml_failed(error)
            return math.nan

    def _nvml_failed(self, error: pynvml.NVMLError) -> None:
        """Record why and stop asking NVML, so the warning is logged once per run."""
        self._nvml_handle = None
        self.nvml_error = f"{type(error).__name__}: {error}"
        log.warning("NVML unavailable, gpu_used_mb will be NaN: %s", self.nvml_error)
