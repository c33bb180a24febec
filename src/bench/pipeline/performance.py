"""A run's speed, cache and memory figures, under the keys of ``bench.metrics.keys``."""

from __future__ import annotations

from bench.metrics import keys
from bench.pipeline.memory import MemorySampler
from bench.pipeline.timing import StageTimer


def performance_metrics(
    timer: StageTimer,
    memory: MemorySampler,
    *,
    num_images: int,
    num_computed: int,
    wall_s: float,
    cache_corrupted: int,
) -> dict[str, float]:
    """Busy time per stage and overhead, ms per computed image and throughput per stage, the
    end-to-end rate (``wall_s`` excludes loading), what the cache saved, and memory peaks."""
    seconds = timer.seconds
    metrics = {keys.time_s(step): seconds[step] for step in (*keys.STAGES, *keys.OVERHEADS)}
    for stage in keys.STAGES:
        busy = seconds[stage]
        metrics[keys.ms_per_image(stage)] = 1000 * busy / num_computed if num_computed else 0.0
        metrics[keys.images_per_s(stage)] = num_computed / busy if busy > 0 else float("nan")
    metrics.update(
        {
            keys.TIME_TOTAL_S: wall_s,
            keys.IMAGES_PER_S: num_images / wall_s if wall_s > 0 else float("nan"),
            keys.NUM_IMAGES_COMPUTED: float(num_computed),
            keys.NUM_IMAGES_CACHED: float(num_images - num_computed),
            keys.CACHE_CORRUPTED_ENTRIES: float(cache_corrupted),
            keys.PEAK_RSS_MB: memory.peak_rss_mb,
            keys.PEAK_GPU_MB: memory.peak_gpu_mb,
        }
    )
    metrics.update(memory.peaks())
    return metrics
