"""The benchmark run: each image decoded, its face found and aligned, and embedded once; then the
protocol scores the embeddings. Stages overlap (``pipeline=fast``): decoding workers run a few
batches ahead of detection and alignment, which hand aligned faces to the recognition model on
its own threads, so the slowest stage sets the pace. ``pipeline=naive`` runs the same steps one image at
a time on one thread: the in-run baseline. With the cache on, images whose results are cached are
not decoded at all, and models are loaded only when something is left to compute. The runner
orchestrates only: where faces come from is the face source's concern, what the cache holds the
run cache's, how embeddings are scored the protocol's.

    with BenchmarkRunner(config) as runner:
        result = runner.run()
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType

import numpy as np

from bench.alignment import BatchAligner
from bench.cache import CachedDetection
from bench.config import BenchConfig
from bench.cpu import usable_cores
from bench.data import Dataset, image_pixels, load_dataset
from bench.detectors import Face, detector_entry
from bench.metrics import keys
from bench.models import Embedder, EmbedSettings, model_family
from bench.models.registry import alignment_template
from bench.pipeline.batching import AlignedBatch, EmbedBatcher, pixel_batches
from bench.pipeline.cache_keys import detection_key, embedding_key
from bench.pipeline.decoding import DecodeBudget, Decoded, SizedBatch, decode_timed, decoded_batches
from bench.pipeline.description import describe_run
from bench.pipeline.face_choice import FaceChooser
from bench.pipeline.face_source import RunContext, face_finder
from bench.pipeline.memory import MemorySampler
from bench.pipeline.overlap import BackgroundStage, InlineStage, ordered_map
from bench.pipeline.performance import performance_metrics
from bench.pipeline.progress import Progress
from bench.pipeline.protocols import protocol_of
from bench.pipeline.records import BenchmarkResult, ImageRecord, ImageStatus, ShardResult
from bench.pipeline.result_cache import RunCache, Work
from bench.pipeline.samples import sample_faces
from bench.pipeline.shards import Sharding
from bench.pipeline.threads import ThreadAccounting, stage_thread
from bench.pipeline.timing import StageTimer
from bench.quality.evaluation import curve_metrics, image_signals, quality_curves, signal_medians
from bench.quality.measured import as_signals, measured_rows
from bench.runtime import Runtime
from bench.stress import FaceDonors, Stress
from bench.stress.specs import spec_of
from bench.tuning import method_key

_WARMUP_FACES = 8
#: Bytes of a decoded pixel: RGB, 8 bits a channel.
_RGB = 3


class BenchmarkRunner:
    """Runs one configuration end to end: a context manager that applies the runtime's thread
    pools and opens the feature cache on entry, and closes the cache and drops the models on
    exit. Models load on first need, timed apart."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.runtime = Runtime.from_config(
            config.hardware, config.pipeline, method_key(config.detector.name, config.model.name)
        )
        self.timer = StageTimer()
        with self.timer("load"):
            self.dataset: Dataset = load_dataset(config.dataset)
        donors = (
            FaceDonors(self.dataset.image_root, tuple(self.dataset.images), config.dataset.max_image_pixels)
            if spec_of(config.stress.name).needs_donors
            else None
        )
        self.stress = Stress(config.stress, donors)
        self.protocol = protocol_of(self.dataset)
        self.entries = self.protocol.entries(self.dataset, config.stress)
        self.family = model_family(config.model)
        self.protocol.check_similarity(self.family)
        aligner = BatchAligner(
            self.runtime.device,
            size=self.family.input.size,
            pin_memory=config.hardware.pin_memory,
            template=alignment_template(config.model),
        )
        self.faces = face_finder(RunContext(config, self.dataset, self.runtime, self.timer, aligner))
        self.chooser = FaceChooser(
            config.detector.name,
            config.selection,
            config.failure_policy,
            config.fallback_crop_fraction,
            config.perturbation,
        )
        keys = (detection_key(config, self.runtime), embedding_key(config, self.runtime))
        self.cache = RunCache(keys, self.faces, self.stress, self.dataset.image_root, self.timer)
        self.sharding = Sharding.of(config.dataset)
        self._embedder: Embedder | None = None

    def __enter__(self) -> BenchmarkRunner:
        self.runtime.apply_thread_pools()
        if self.config.cache.enabled:
            assert self.config.cache.dir is not None  # checked by CacheConfig
            self.cache.open(Path(self.config.cache.dir), self.sharding)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.cache.close()
        self.faces.close()
        self._embedder = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self.timer("load"), stage_thread("embed"):  # the model's thread pools are embed's
                settings = EmbedSettings.from_hardware(self.config.hardware, self.runtime.embed_batch_size)
                embedder = self.family.build(self.config.model, self.runtime, settings)
            with self.timer("warmup"):
                embedder.embed(np.zeros((_WARMUP_FACES, *self.family.input.face_shape), dtype=np.uint8))
            self._embedder = embedder
        return self._embedder

    def run(self, progress: Progress | None = None) -> BenchmarkResult:
        """Every image computed (or read from the cache, or, merging shards, from their stores)
        and the protocol's evaluation."""
        if self.sharding.is_shard:
            raise ValueError(
                f"dataset.shard={self.sharding.shard} computes a share and evaluates nothing: "
                "run_shard() runs it, and the run without dataset.shard evaluates"
            )
        records, embeddings = self._blank()
        with self._memory() as memory:
            work, wall, cpu = self._compute(records, embeddings, range(len(records)), memory, progress)
            with memory.phase("evaluate"), self.timer("evaluate"):
                result = self.protocol.evaluate(
                    self.dataset, self.entries, records, embeddings, self.family.similarity
                )
                self._score_quality(result)
        result.runtime = self._describe()
        result.samples = sample_faces(
            records,
            self.dataset.image_root,
            self.config.sample_faces,
            self.faces.passes_through,
            self.config.dataset.max_image_pixels,
            self.stress,
            self.faces.aligner.template,
            self.faces.aligner.size,
        )
        result.memory_trace = memory.trace
        result.metrics.update(self._performance(memory, len(records), work, wall))
        result.metrics.update(cpu)
        return result

    def run_shard(self, progress: Progress | None = None) -> ShardResult:
        """This shard's share of the images computed into its store (``bench.pipeline.shards``);
        nothing is evaluated: the merge does that once every shard is in."""
        records, embeddings = self._blank()
        share = self.sharding.share(len(records))
        with self._memory() as memory:
            work, wall, cpu = self._compute(records, embeddings, share, memory, progress)
        return ShardResult(
            share=share,
            records=[records[index] for index in share],
            metrics={**self._performance(memory, len(share), work, wall), **cpu},
            runtime=self._describe(),
            memory_trace=memory.trace,
        )

    def _blank(self) -> tuple[list[ImageRecord], np.ndarray]:
        """A record per image of the run's list, and their embeddings' rows, NaN until filled."""
        entries = self.entries.entries
        records = [ImageRecord(entry.path, entry.stressed) for entry in entries]
        return records, np.full((len(entries), self.family.embedding_dim), np.nan, dtype=np.float32)

    def _memory(self) -> MemorySampler:
        return MemorySampler(cuda=self.runtime.is_cuda, device_index=self.runtime.device.index or 0)

    def _compute(
        self,
        records: list[ImageRecord],
        embeddings: np.ndarray,
        indices: Sequence[int],
        memory: MemorySampler,
        progress: Progress | None,
    ) -> tuple[Work, float, dict[str, float]]:
        """``indices``' images from the cache, the rest computed; the work done, its wall time
        in seconds (model loading excluded) and the CPU each stage's threads took computing."""
        progress = progress or Progress.disabled()
        started = time.perf_counter()
        setup = 0.0
        cpu: dict[str, float] = {}
        with memory.phase("cache"), self.timer("cache_read"):
            work = self.cache.reuse(records, embeddings, self.chooser, self.runtime.decode_workers, indices)
        if self.config.cache.dir is not None:
            self.sharding.check_complete(work.indices, len(records), Path(self.config.cache.dir))
        progress.start(keys.STAGES, total=len(indices))
        for stage in keys.STAGES:
            progress.advance(stage, len(indices) - len(work.indices))
        if work.indices:
            with memory.phase("load"):
                setup_started = time.perf_counter()
                if len(work.detections) < len(work.indices):
                    with stage_thread("detect"):  # the detectors' thread pools are detect's
                        self.faces.load()
                _ = self.embedder
                setup = time.perf_counter() - setup_started
            # This thread detects when there is one detection worker; in the naive pipeline it
            # runs every stage, so its time is no one stage's.
            overlap = self.config.pipeline.overlap
            here = "detect" if overlap and self.runtime.detect_workers == 1 else keys.OTHER_THREADS
            with memory.phase("process"), stage_thread(here), ThreadAccounting(usable_cores()) as threads:
                self._process(work, records, embeddings, progress)
            cpu = threads.metrics()
        progress.stop()
        return work, time.perf_counter() - started - setup, cpu

    def _describe(self) -> dict[str, str]:
        return describe_run(self.config, self.runtime, self.cache, self.stress, self.faces, self._embedder)

    def _performance(
        self, memory: MemorySampler, num_images: int, work: Work, wall: float
    ) -> dict[str, float]:
        return performance_metrics(
            self.timer,
            memory,
            num_images=num_images,
            num_computed=len(work.indices),
            wall_s=wall,
            cache_corrupted=self.cache.corrupted,
        )

    def _score_quality(self, result: BenchmarkResult) -> None:
        """Each image's quality signals, and on pairs of images each signal's curve."""
        result.quality = image_signals(result.records, detector_entry(self.config.detector.name).scored)
        result.metrics.update(signal_medians(result.quality))
        if result.verification is not None:
            result.edc = quality_curves(
                result.quality,
                result.scores,
                result.dataset.labels,
                result.index_a,
                result.index_b,
                self.config.quality.target_fmr,
            )
            result.metrics.update(curve_metrics(result.edc))

    def _process(
        self, work: Work, records: list[ImageRecord], embeddings: np.ndarray, progress: Progress
    ) -> None:
        pipeline = self.config.pipeline

        def embed(batch: AlignedBatch) -> None:
            if batch.indices:
                with self.timer("embed"):
                    embedded = self.embedder.embed_measured(batch.faces, self.config.quality.mirror_agreement)
                with self.timer("quality"):
                    measured = measured_rows(batch.faces, embedded)
                embeddings[batch.indices] = embedded.vectors
                for index, row in zip(batch.indices, measured, strict=True):
                    records[index].measured = as_signals(row)
                self.cache.put_embeddings(records, batch.indices, embedded.vectors, measured)
            progress.advance("embed", batch.size)

        stage: BackgroundStage[AlignedBatch] | InlineStage[AlignedBatch] = (
            BackgroundStage("embed", embed, pipeline.queue_depth, self.runtime.embed_workers)
            if pipeline.overlap
            else InlineStage(embed)
        )
        with stage:
            batcher = EmbedBatcher(self.runtime.embed_batch_size, stage.put)
            budget = DecodeBudget(self.config.hardware.decode_budget_mb * 2**20)
            decoded = self._decoded(self._batches(work.indices, budget), records, budget)
            detect_and_align = partial(
                self._detect_and_align,
                cached=work.detections,
                records=records,
                progress=progress,
                budget=budget,
            )
            # Each batch's result depends on that batch alone, so detection workers change no result.
            workers = self.runtime.detect_workers
            for aligned in ordered_map(detect_and_align, decoded, workers if workers > 1 else 0, "detect"):
                batcher.add(aligned)
            batcher.flush()
            stage.close()

    def _batches(self, indices: list[int], budget: DecodeBudget) -> Iterator[SizedBatch]:
        """The images to decode in batches of ``hardware.batch_size``, each with its decoded size
        in bytes, cut by pixel count so that the batches the pipeline holds at once (queued for
        decoding, one per detection worker) fit the budget together: the budget then holds only
        photos too large for a batch back."""
        entries, root = self.entries.entries, self.dataset.image_root
        held = self.config.pipeline.queue_depth + 1 + max(1, self.runtime.detect_workers)
        batches = pixel_batches(
            indices,
            lambda index: image_pixels(root / entries[index].path, root),
            self.config.hardware.batch_size,
            budget.max_bytes // (_RGB * held),
        )
        return ((batch, _RGB * pixels) for batch, pixels in batches)

    def _decoded(
        self, batches: Iterable[SizedBatch], records: list[ImageRecord], budget: DecodeBudget
    ) -> Iterator[list[Decoded]]:
        """Decoded batches in order; the bytes decoded are what results are stored under, even
        if the file changed since the cache lookup hashed it."""
        entries = self.entries.entries
        decode = partial(
            decode_timed,
            root=self.dataset.image_root,
            entries=entries,
            stress=self.stress,
            digest=self.cache.enabled or self.chooser.needs_keys,
            max_pixels=self.config.dataset.max_image_pixels,
        )
        workers, depth = self.runtime.decode_workers, self.config.pipeline.queue_depth
        for batch in decoded_batches(batches, decode, workers, depth, budget):
            for decoded, seconds in batch:
                self.timer.add("decode", seconds)
                if decoded.digest is not None:
                    self.cache.decoded(records[decoded.index], decoded.digest)
            yield [decoded for decoded, _ in batch]

    def _detect_and_align(
        self,
        decoded: list[Decoded],
        cached: Mapping[int, CachedDetection],
        records: list[ImageRecord],
        progress: Progress,
        budget: DecodeBudget,
    ) -> AlignedBatch:
        """The batch's faces found and aligned; then its images are let go and their bytes
        returned to the budget, whatever happened."""
        try:
            return self._find_and_align(decoded, cached, records, progress)
        finally:
            for item in decoded:
                item.image = None
            budget.free(decoded[0].index)

    def _find_and_align(
        self,
        decoded: list[Decoded],
        cached: Mapping[int, CachedDetection],
        records: list[ImageRecord],
        progress: Progress,
    ) -> AlignedBatch:
        images: dict[int, np.ndarray] = {}
        new_entries: dict[int, CachedDetection] = {}
        for item in decoded:
            if item.image is None:
                record = records[item.index]
                record.status, record.reason = ImageStatus.DECODE_ERROR, item.reason
                if item.digest is not None:
                    new_entries[item.index] = CachedDetection([], error=item.reason)
            else:
                images[item.index] = item.image
        progress.advance("decode", len(decoded))

        found: dict[int, list[Face]] = {index: cached[index].faces for index in images if index in cached}
        to_detect = [index for index in images if index not in cached]
        if to_detect:
            with self.timer("detect"):
                faces = self.faces.find([images[i] for i in to_detect], [records[i].path for i in to_detect])
            for index, image_faces in zip(to_detect, faces, strict=True):
                found[index] = image_faces
                new_entries[index] = CachedDetection(image_faces, shape=images[index].shape[:2])
        self.cache.put_detections(records, new_entries)
        progress.advance("detect", len(decoded))

        with self.timer("align"):
            chosen = {
                index: face
                for index in images
                if (face := self.chooser.choose(records[index], images[index].shape[:2], found[index]))
            }
            aligned = self.faces.align([images[index] for index in chosen], list(chosen.values()))
        progress.advance("align", len(decoded))
        return AlignedBatch(len(decoded), list(chosen), aligned)
