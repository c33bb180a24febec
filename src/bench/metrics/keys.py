"""Every metric key and stage name, defined once.

The keys are logged to MLflow and read back by name (console summary, sweep comparison,
``make perf``), so a key spelled twice could drift apart and a renamed metric would go missing
without a word; every module takes its keys from here. The strings are stable: the README's
"Metric keys" table documents them.
"""

from __future__ import annotations

#: The pipeline's stages, in order; each has its ``time_*_s``, ``ms_per_image_*`` and ``images_per_s_*``.
STAGES = ("decode", "detect", "align", "embed")
#: What is timed besides the stages (a ``time_*_s`` each): loading, warm-up, the cache, the
#: quality signals of the crops, scoring.
OVERHEADS = ("load", "warmup", "cache_read", "cache_write", "quality", "evaluate")
#: The false accept rates whose true accept rate every run logs.
DEFAULT_FAR_TARGETS: tuple[float, ...] = (1e-3, 1e-2)
#: The false accept rates of IJB-B/C's 1:1 table (insightface's columns).
IJB_FAR_TARGETS: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
#: IJB's headline figure: what a template run returns to a sweeper.
IJB_HEADLINE_FAR = 1e-4

# -- verification, on every scored pair ----------------------------------------------------------
ACCURACY = "accuracy"
ACCURACY_STD = "accuracy_std"
AUC = "auc"
EER = "eer"
BEST_THRESHOLD = "best_threshold"
NUM_PAIRS = "num_pairs"

# -- verification on the pairs whose two faces were detected, and the detection counts -----------
ACCURACY_DETECTED = "accuracy_detected"
ACCURACY_DETECTED_STD = "accuracy_detected_std"
SUCCESS_RATE = "success_rate"
PAIR_SUCCESS_RATE = "pair_success_rate"
#: The mean landmark error (NME) that ``perturbation`` added, in a run that had one.
PERTURBATION_NME = "perturbation_nme"
NUM_IMAGES = "num_images"
NUM_FAILED_IMAGES = "num_failed_images"
NUM_FALLBACK_IMAGES = "num_fallback_images"
NUM_PAIRS_TOTAL = "num_pairs_total"
NUM_PAIRS_SCORED = "num_pairs_scored"
#: IJB: templates, and those whose every image failed (their pairs are not scored).
NUM_TEMPLATES = "num_templates"
NUM_TEMPLATES_WITHOUT_FEATURE = "num_templates_without_feature"

# -- quality: each signal's error-versus-discard curve (bench.quality), on pairs of images -------
#: The random-discard and ideal (errors first) references, and the FMR the threshold was fixed at.
EDC_RANDOM_PAUC = "edc_random_pauc20"
EDC_IDEAL_PAUC = "edc_ideal_pauc20"
EDC_FMR = "edc_fmr"


def edc_pauc(signal: str) -> str:
    """A signal's partial area under its curve up to 20 % discard: ``edc_pauc20_sharpness``."""
    return f"edc_pauc20_{signal}"


def quality_median(signal: str) -> str:
    """A signal's median over the images that have it, an angle's size rather than its sign:
    ``quality_median_detector_score``. A stress sweep follows it across severities."""
    return f"quality_median_{signal}"


# -- speed and the cache ---------------------------------------------------------------------------
TIME_TOTAL_S = "time_total_s"
IMAGES_PER_S = "images_per_s"
NUM_IMAGES_COMPUTED = "num_images_computed"
NUM_IMAGES_CACHED = "num_images_cached"
CACHE_CORRUPTED_ENTRIES = "cache_corrupted_entries"

# -- CPU per stage while images are processed (bench.pipeline.threads) ------------------------------
#: The thread groups: each stage's threads (alignment runs on detection's), and the rest.
OTHER_THREADS = "other"
THREAD_GROUPS = ("decode", "detect", "embed", OTHER_THREADS)
#: CPU seconds of the whole process while it processed images, and that over the cores' time.
CPU_TOTAL_S = "cpu_total_s"
CPU_UTILISATION = "cpu_utilisation"
#: The most threads alive at once (every library's pools included).
THREADS_PEAK = "threads_peak"


def cpu_s(group: str) -> str:
    """A thread group's CPU seconds: ``cpu_detect_s``."""
    _check(group, THREAD_GROUPS)
    return f"cpu_{group}_s"


def threads(group: str) -> str:
    """How many threads a group ran on: ``threads_embed``."""
    _check(group, THREAD_GROUPS)
    return f"threads_{group}"


def switches(group: str, voluntary: bool) -> str:
    """A group's context switches: ``switches_waited_embed`` (it waited: a queue, a lock) or
    ``switches_preempted_embed`` (the scheduler gave its core to another thread)."""
    _check(group, THREAD_GROUPS)
    return f"switches_{'waited' if voluntary else 'preempted'}_{group}"


# -- memory: the sampled series (metric histories) and torch's peak on the GPU ---------------------
RSS_MB = "rss_mb"
GPU_ALLOCATED_MB = "gpu_allocated_mb"
GPU_RESERVED_MB = "gpu_reserved_mb"
GPU_USED_MB = "gpu_used_mb"
GPU_SERIES = (GPU_ALLOCATED_MB, GPU_RESERVED_MB, GPU_USED_MB)
#: Torch's exact peak of allocated GPU memory; 0 on the CPU.
PEAK_GPU_MB = "peak_gpu_mb"


def time_s(step: str) -> str:
    """Busy seconds of a stage or an overhead: ``time_detect_s``, ``time_load_s``."""
    _check(step, (*STAGES, *OVERHEADS))
    return f"time_{step}_s"


def ms_per_image(stage: str) -> str:
    """A stage's milliseconds per computed image: ``ms_per_image_detect``."""
    _check(stage, STAGES)
    return f"ms_per_image_{stage}"


def images_per_s(stage: str) -> str:
    """A stage's throughput: ``images_per_s_detect`` (``IMAGES_PER_S`` is end to end)."""
    _check(stage, STAGES)
    return f"images_per_s_{stage}"


def format_far(far: float) -> str:
    """A false accept rate as keys and tables show it: ``1e-3`` (MLflow-safe, no dot for 0.001)."""
    mantissa, exponent = f"{far:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def tar_at_far(far: float) -> str:
    """The true accept rate at a false accept rate: ``1e-3`` -> ``tar_at_far_1e-3``."""
    return f"tar_at_far_{format_far(far)}"


def tar_insightface_at_far(far: float) -> str:
    """insightface's IJB figure (the ROC point nearest the FAR): ``tar_insightface_at_far_1e-4``."""
    return f"tar_insightface_at_far_{format_far(far)}"


def cmc_at_rank(rank: int) -> str:
    """The share of mated 1:N probes found within ``rank``: ``cmc_rank_1``."""
    return f"cmc_rank_{rank}"


def tpir_at_fpir(fpir: float, insightface: bool = False) -> str:
    """The 1:N true positive identification rate at a false positive one: ``tpir_at_fpir_1e-2``
    (``tpir_insightface_at_fpir_1e-2``: insightface's threshold rule)."""
    return f"tpir{'_insightface' if insightface else ''}_at_fpir_{format_far(fpir)}"


def peak(series: str, phase: str | None = None) -> str:
    """Peak of a memory series, over the run or in one phase: ``peak_rss_mb``, ``peak_rss_mb_load``."""
    _check(series, (RSS_MB, *GPU_SERIES))
    return f"peak_{series}" if phase is None else f"peak_{series}_{phase}"


def _check(name: str, known: tuple[str, ...]) -> None:
    """A typo in a stage or series name would make a key no run logs: refuse it here."""
    if name not in known:
        raise ValueError(f"unknown name {name!r}, expected one of {known}")


TIME_LOAD_S = time_s("load")
TIME_WARMUP_S = time_s("warmup")
TIME_CACHE_READ_S = time_s("cache_read")
TIME_CACHE_WRITE_S = time_s("cache_write")
TIME_EVALUATE_S = time_s("evaluate")
TAR_AT_FAR = tuple(tar_at_far(far) for far in DEFAULT_FAR_TARGETS)
PEAK_RSS_MB = peak(RSS_MB)
PEAK_GPU_ALLOCATED_MB = peak(GPU_ALLOCATED_MB)
PEAK_GPU_RESERVED_MB = peak(GPU_RESERVED_MB)
PEAK_GPU_USED_MB = peak(GPU_USED_MB)
