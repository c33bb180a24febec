"""The typed configuration: one dataclass per config group and one for the whole run.

Hydra composes ``conf/`` on top of these (the structured-config schema pattern), so a value of
the wrong type or outside a closed choice fails at composition with the key named; ranges are
checked in ``__post_init__`` when the composed config becomes these objects (``to_bench_config``),
before any data or model is loaded. Components receive these objects, never string-keyed dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from omegaconf import MISSING

from bench.config.enums import (
    Device,
    EmbedBackend,
    FaceSource,
    FailurePolicy,
    IjbTarget,
    OnMissing,
    Perturbation,
    Precision,
    Selection,
    StressCondition,
    StressKind,
    StressSides,
)
from bench.config.tracking_uri import check_tracking_uri
from bench.config.validate import require


@dataclass
class DetectorConfig:
    """``name`` picks the entry in ``bench.detectors``' registry; ``options`` is that detector's
    own options dataclass, defined beside its code; ``source`` is set by its registration."""

    name: str = MISSING
    source: FaceSource = FaceSource.detected
    options: Any = MISSING


#: Pillow, which reads image headers, refuses one above this (twice its ``MAX_IMAGE_PIXELS``).
MAX_IMAGE_PIXELS_CEILING = 178_956_970
#: Threads and workers of one kind. OpenCV and torch take a thread count as a C int (a larger one
#: is an ``OverflowError`` once the run is open) and every thread takes a stack: 1024 is more than
#: any machine's cores, and far from both limits.
MAX_THREADS = 1024
#: insightface's ``.bin`` protocol: ``KFold(10)`` over the pairs (``bench.data.bin_set``).
INSIGHTFACE_FOLDS = 10


@dataclass
class DatasetConfig:
    name: str = MISSING
    #: True when the images are already aligned 112x112 faces (use with ``detector=none``).
    aligned: bool = False
    #: Run only these folds (numbered from 0); ``None``: all.
    folds: list[int] | None = None
    #: The first ``n / 2`` same and ``n / 2`` different pairs of each fold; ``None``: all.
    pairs_per_fold: int | None = None
    on_missing: OnMissing = OnMissing.error
    #: An image whose header claims more pixels is a counted failure, never decoded: a
    #: decompression bomb (a 1 MB PNG of 30000x30000) would take GBs. 50 MP admits any photo a
    #: face data set holds (a 50 MP phone photo is 8160x6120; LFW's are 250x250 = 62,500 px) and
    #: bounds one decoded image at 150 MB of RGB.
    max_image_pixels: int = 50_000_000
    #: One evaluation split over this many jobs: job ``shard`` computes every ``num_shards``-th
    #: image into a feature store of its own under ``cache.dir``, and the run without a ``shard``
    #: evaluates once every share is in (``bench.pipeline.shards``).
    num_shards: int = 1
    shard: int | None = None

    def __post_init__(self) -> None:
        require(self.num_shards >= 1, "dataset.num_shards", "must be an integer >= 1", self.num_shards)
        if self.shard is not None:
            require(
                self.num_shards > 1,
                "dataset.shard",
                "needs dataset.num_shards > 1 (null runs the whole set)",
                self.shard,
            )
            require(
                0 <= self.shard < self.num_shards,
                "dataset.shard",
                f"must lie in [0, dataset.num_shards - 1 = {self.num_shards - 1}] or be null",
                self.shard,
            )
        require(
            1 <= self.max_image_pixels <= MAX_IMAGE_PIXELS_CEILING,
            "dataset.max_image_pixels",
            f"must lie in [1, {MAX_IMAGE_PIXELS_CEILING}]",
            self.max_image_pixels,
        )
        if self.folds is not None:
            require(
                len(self.folds) > 0, "dataset.folds", "must name at least one fold or be null", self.folds
            )
            self._check_fold_numbers(self.folds)
        if self.pairs_per_fold is not None:
            require(
                self.pairs_per_fold >= 2,
                "dataset.pairs_per_fold",
                "must be >= 2 or null",
                self.pairs_per_fold,
            )

    @property
    def known_folds(self) -> int | None:
        """How many folds the protocol has, when the config alone tells (the file is not read here)."""
        return None

    def _check_fold_numbers(self, folds: list[int]) -> None:
        # A fold the protocol lacks would otherwise stop the job only once its run is open.
        count = self.known_folds
        if count is None:
            require(all(fold >= 0 for fold in folds), "dataset.folds", "must be >= 0", folds)
        else:
            require(
                all(0 <= fold < count for fold in folds),
                "dataset.folds",
                f"must lie in [0, {count - 1}] ({self.name} has {count} fold{'s' if count > 1 else ''})",
                folds,
            )


@dataclass
class LfwDatasetConfig(DatasetConfig):
    """LFW's ``pairs.txt`` over an image folder, both found by the asset resolver."""

    #: Folds of each LFW protocol asset: View 2's ``pairs.txt`` and View 1's ``pairsDevTest.txt``.
    PROTOCOL_FOLDS: ClassVar[dict[str, int]] = {"lfw_pairs": 10, "lfw_pairs_dev_test": 1}

    #: Asset names of the image folder and of ``pairs.txt``; explicit paths win when given.
    images: str = MISSING
    images_path: str | None = None
    pairs: str = MISSING
    pairs_path: str | None = None

    @property
    def known_folds(self) -> int | None:
        return self.PROTOCOL_FOLDS.get(self.pairs) if self.pairs_path is None else None


@dataclass
class CsvPairsDatasetConfig(DatasetConfig):
    """Any image folder and a CSV of pairs (``path_a,path_b,label[,fold]``)."""

    root: str = MISSING
    pairs_csv: str = MISSING
    #: Folds to deal the pairs into when the CSV has no fold column.
    num_folds: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.num_folds >= 2, "dataset.num_folds", "must be >= 2", self.num_folds)


@dataclass
class BinDatasetConfig(DatasetConfig):
    """insightface's ``.bin`` validation format (``bench.data.bin_set``): aligned faces and
    same/different flags in one file, scored in insightface's 10 folds."""

    path: str = MISSING
    aligned: bool = True

    @property
    def known_folds(self) -> int | None:
        return INSIGHTFACE_FOLDS


@dataclass
class IjbDatasetConfig(DatasetConfig):
    """IJB-B or IJB-C as insightface's release lays it out (``bench.data.ijb``): template pairs
    (1:1), and probe and gallery templates (1:N) when their files are there. The protocol has
    no folds: every template pair is scored."""

    root: str = MISSING
    target: IjbTarget = IjbTarget.IJBC
    #: Weigh each image's embedding by its detector score in its template (insightface's
    #: default): the release's scores with ``detector=given``, the detector's own otherwise.
    detector_score_weighting: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("folds", "pairs_per_fold"):
            require(
                getattr(self, key) is None,
                f"dataset.{key}",
                "must be null: IJB's protocol scores every template pair, without folds",
                getattr(self, key),
            )


@dataclass
class ModelConfig:
    """A recognition model of the registered ``family`` (``bench.models.registry``). For EdgeFace,
    the layout (``arch``, ``rank_ratio``, ``quantized``) is the published variant's that ``name``
    names (``bench.models.VARIANTS``) while ``arch`` is ``None``; setting ``arch`` describes
    weights of another layout, with ``rank_ratio`` and ``quantized`` as given."""

    name: str = MISSING
    family: str = "edgeface"
    arch: str | None = None
    #: Low-rank factor of every linear layer; ``None``: full rank.
    rank_ratio: float | None = None
    #: Dynamic int8 linears (CPU only).
    quantized: bool = False
    path: str | None = None
    #: Sum each embedding with the mirrored face's (test-time augmentation).
    flip: bool = False
    #: The alignment template: ``native`` (the family's own), a registered template's name
    #: (``arcface_112``, ``dlib_chip_150``, ...), or ``{size: S, points: {left_eye: [x, y], ...}}``.
    #: Typed ``Any`` because it is a name or a mapping; checked here.
    template: Any = "native"

    def __post_init__(self) -> None:
        template = self.template
        require(
            isinstance(template, str) or (isinstance(template, dict) and set(template) == {"size", "points"}),
            "model.template",
            "must be native, a template's name, or {size: S, points: {name: [x, y], ...}}",
            template,
        )
        if self.rank_ratio is not None:
            require(
                0.0 < self.rank_ratio <= 1.0,
                "model.rank_ratio",
                "must lie in (0, 1] or null",
                self.rank_ratio,
            )


@dataclass
class InputConfig:
    """What a recognizer's graph is fed (``bench.models.spec.InputSpec``): ``size`` x ``size``
    faces in ``channels`` order, scaled as ``(x - mean) / std``."""

    size: int = 112
    channels: str = "RGB"
    mean: float = 127.5
    std: float = 127.5

    def __post_init__(self) -> None:
        require(self.size >= 8, "model.input.size", "must be at least 8", self.size)
        require(self.channels in ("RGB", "BGR"), "model.input.channels", "must be RGB or BGR", self.channels)
        require(self.std > 0, "model.input.std", "must be > 0", self.std)


@dataclass
class OnnxModelConfig(ModelConfig):
    """``model=onnx``: any recognizer's ONNX graph run by ONNX Runtime (``bench export`` writes
    EdgeFace's), fed its own crop: ``input``, ``template`` (``native`` is ``arcface_112``),
    ``embedding_dim`` (checked against the graph) and ``similarity``. Its ``path`` is required;
    the base's ``None`` default survives a ``???`` in the YAML (OmegaConf never merges a missing
    value over a set one), hence the check here."""

    family: str = "onnx"
    input: InputConfig = field(default_factory=InputConfig)
    embedding_dim: int = 512
    similarity: str = "cosine"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.embedding_dim >= 1, "model.embedding_dim", "must be at least 1", self.embedding_dim)
        require(
            self.path is not None and self.path.lower().endswith(".onnx"),
            "model.path",
            "must name the .onnx file (model=onnx model.path=FILE)",
            self.path,
        )


@dataclass
class HardwareConfig:
    device: Device = Device.cpu
    #: The CUDA device's index; ``None``: the current one.
    device_index: int | None = None
    #: Images decoded, detected and aligned per batch.
    batch_size: int = 32
    #: Faces per recognition forward pass; ``None``: this CPU's calibration (``bench tune``), else 64.
    embed_batch_size: int | None = None
    #: Image-decoding threads; 0 decodes inline; ``None``: this CPU's calibration (``bench tune``), else 2.
    num_workers: int | None = None
    #: MiB of decoded images in flight at once: batches are formed by pixel count (from each
    #: file's header) so that the batches the pipeline holds together stay within it, whatever
    #: the photos' size. A photo above one batch's share is a batch of its own.
    decode_budget_mb: int = 256
    #: Threads of the detector and of each recognition worker; ``None`` splits the cores.
    detect_threads: int | None = None
    embed_threads: int | None = None
    precision: Precision = Precision.auto
    embed_backend: EmbedBackend = EmbedBackend.auto
    channels_last: bool = False
    pin_memory: bool = False
    #: ONNX Runtime providers in order; ``None``: CUDA then CPU on a GPU, the CPU alone otherwise.
    onnx_providers: list[str] | None = None

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "hardware.batch_size", "must be an integer >= 1", self.batch_size)
        require(
            self.embed_batch_size is None or self.embed_batch_size >= 1,
            "hardware.embed_batch_size",
            "must be an integer >= 1 or null",
            self.embed_batch_size,
        )
        require(
            self.num_workers is None or self.num_workers >= 0,
            "hardware.num_workers",
            "must be an integer >= 0 or null",
            self.num_workers,
        )
        require(
            self.decode_budget_mb >= 1,
            "hardware.decode_budget_mb",
            "must be an integer >= 1",
            self.decode_budget_mb,
        )
        require(
            self.num_workers is None or self.num_workers <= MAX_THREADS,
            "hardware.num_workers",
            f"must be at most {MAX_THREADS}",
            self.num_workers,
        )
        for key in ("detect_threads", "embed_threads"):
            value = getattr(self, key)
            require(value is None or value >= 1, f"hardware.{key}", "must be an integer >= 1 or null", value)
            if value is not None:
                require(value <= MAX_THREADS, f"hardware.{key}", f"must be at most {MAX_THREADS}", value)
        if self.device_index is not None:
            require(self.device is not Device.cpu, "hardware.device_index", "needs device=cuda or auto", 0)
            require(self.device_index >= 0, "hardware.device_index", "must be >= 0", self.device_index)


@dataclass
class PipelineConfig:
    #: ``fast`` (overlapped stages) or ``naive`` (the sequential in-run baseline): a label.
    name: str = "fast"
    overlap: bool = True
    #: Batches in flight between stages (bounds memory).
    queue_depth: int = 4
    #: Recognition workers, each running whole model batches; ``None``: this CPU's calibration
    #: (``bench tune``), else 2.
    embed_workers: int | None = None
    #: Detection workers, each detecting and aligning whole batches with a detector of its own
    #: (with ``overlap``; the naive pipeline detects on its one thread); ``None`` as above.
    detect_workers: int | None = None
    #: Whether the counts left null (these workers, ``hardware.num_workers`` and the threads)
    #: come from this CPU's calibration when it has one (``bench.tuning``); the CPU only.
    tuned: bool = True

    def __post_init__(self) -> None:
        require(self.queue_depth >= 1, "pipeline.queue_depth", "must be >= 1", self.queue_depth)
        for key in ("embed_workers", "detect_workers"):
            value = getattr(self, key)
            if value is not None:
                require(value >= 1, f"pipeline.{key}", "must be >= 1", value)
                require(value <= MAX_THREADS, f"pipeline.{key}", f"must be at most {MAX_THREADS}", value)


@dataclass
class CacheConfig:
    enabled: bool = True
    dir: str | None = None

    def __post_init__(self) -> None:
        require(
            not self.enabled or bool(self.dir),
            "cache.dir",
            "must name a folder when the cache is on",
            self.dir,
        )


@dataclass
class TrackingConfig:
    uri: str = MISSING
    experiment: str = "face-alignment"
    #: ``None``: ``<detector>+<model>@<dataset>``.
    run_name: str | None = None

    def __post_init__(self) -> None:
        check_tracking_uri(self.uri)


#: Severities a condition is defined at (ImageNet-C's five).
SEVERITIES = 5
#: Conditions whose strength per severity is ``StressConfig.levels`` (the others: the library's).
GEOMETRIC_CONDITIONS = frozenset(
    condition
    for condition in StressCondition
    if condition.kind in {StressKind.geometric, StressKind.placed_by_the_face}
)


@dataclass
class StressConfig:
    """A degradation of each decoded image before detection; ``none`` changes nothing.

    ``levels`` are a geometric condition's strength at severities 1..5, in the condition's own unit
    (``bench.stress.specs`` says which, and the levels ``stress=<name>`` sets); the photometric
    conditions take the library's own, and ``levels`` must then be null.
    """

    name: StressCondition = StressCondition.none
    severity: int = 1
    #: With the image's content, decides every random choice: the same bytes on every run.
    seed: int = 0
    sides: StressSides = StressSides.both
    levels: list[float] | None = None

    def __post_init__(self) -> None:
        require(
            1 <= self.severity <= SEVERITIES,
            "stress.severity",
            f"must lie in [1, {SEVERITIES}]",
            self.severity,
        )
        require(self.seed >= 0, "stress.seed", "must be >= 0", self.seed)
        geometric = self.name in GEOMETRIC_CONDITIONS
        require(
            geometric == (self.levels is not None),
            "stress.levels",
            "must be given for a geometric condition and null for the others",
            self.levels,
        )
        if self.levels is not None:
            require(
                len(self.levels) == SEVERITIES,
                "stress.levels",
                f"must hold one value per severity ({SEVERITIES})",
                self.levels,
            )
            require(all(level > 0 for level in self.levels), "stress.levels", "must be > 0", self.levels)

    @property
    def active(self) -> bool:
        return self.name is not StressCondition.none

    @property
    def label(self) -> str:
        """``gaussian_noise@3`` (``one-sided`` added when only the first image is degraded)."""
        sided = " one-sided" if self.sides is StressSides.one else ""
        return f"{self.name.value}@{self.severity}{sided}"


@dataclass
class QualityConfig:
    """The per-image quality signals a run logs (``quality.csv``) and scores by their
    error-versus-discard curves (``bench.quality``). The signals of the face, the crop and the
    features' norm cost nothing; ``mirror_agreement`` costs one more forward a face."""

    #: The cosine between each face's features and its mirror image's (free with ``model.flip``).
    mirror_agreement: bool = False
    #: The false-match rate the threshold of the curves is fixed at, on the run's impostors.
    target_fmr: float = 1e-3

    def __post_init__(self) -> None:
        require(0 < self.target_fmr < 1, "quality.target_fmr", "must be in (0, 1)", self.target_fmr)


@dataclass
class PerturbationConfig:
    """A controlled landmark error before alignment, for the alignment-tolerance curve
    (``make tolerance``): the kinds are ``Perturbation``'s. Each image draws its own from ``seed``
    and its content (as its results are cached). A face without landmarks (a fallback crop) is
    aligned as it is."""

    kind: Perturbation = Perturbation.none
    #: x inter-ocular distance (noise, shift), a fraction (scale), degrees (rotation).
    magnitude: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.magnitude >= 0, "perturbation.magnitude", "must be >= 0", self.magnitude)
        require(self.seed >= 0, "perturbation.seed", "must be >= 0", self.seed)
        if self.kind is Perturbation.scale:
            require(self.magnitude < 1, "perturbation.magnitude", "must be < 1 for scale", self.magnitude)

    @property
    def active(self) -> bool:
        return self.kind is not Perturbation.none and self.magnitude > 0


@dataclass
class BenchConfig:
    """One run: a detector/aligner and a recognition model on a verification protocol."""

    detector: DetectorConfig = MISSING
    dataset: DatasetConfig = MISSING
    model: ModelConfig = MISSING
    hardware: HardwareConfig = MISSING
    cache: CacheConfig = MISSING
    pipeline: PipelineConfig = MISSING
    tracking: TrackingConfig = MISSING
    stress: StressConfig = MISSING
    perturbation: PerturbationConfig = field(default_factory=PerturbationConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    selection: Selection = Selection.center_weighted
    failure_policy: FailurePolicy = FailurePolicy.center_crop
    #: Side of the centre crop (fallback and ``detector=center_crop``) / the shorter image side.
    fallback_crop_fraction: float = 0.5
    #: Images with a longer side above this are shrunk for detection only.
    detect_max_side: int = 2048
    #: Aligned faces shown in the sample-grid artifact.
    sample_faces: int = 32
    progress: bool = True

    def __post_init__(self) -> None:
        require(
            0.0 < self.fallback_crop_fraction <= 1.0,
            "fallback_crop_fraction",
            "must lie in (0, 1]",
            self.fallback_crop_fraction,
        )
        require(
            self.detect_max_side >= 32, "detect_max_side", "must be at least 32 pixels", self.detect_max_side
        )
        require(self.sample_faces >= 0, "sample_faces", "must be >= 0", self.sample_faces)
        require(
            self.dataset.num_shards == 1 or self.cache.enabled,
            "cache",
            "must be on to shard a run (dataset.num_shards > 1): the shards' results meet in cache.dir",
            "off",
        )
        templates = isinstance(self.dataset, IjbDatasetConfig)
        require(
            self.detector.source is not FaceSource.given or templates,
            "detector",
            "is given, which takes each face's landmarks from the data set; only IJB's (dataset=ijbc "
            "or ijbb) carry them: choose a detector for this data set",
            self.detector.name,
        )
        require(
            not (templates and self.stress.active and self.stress.sides is StressSides.one),
            "stress.sides",
            "must be both on IJB: one degrades the first image of each pair, and IJB compares templates",
            self.stress.sides,
        )

    @property
    def not_applicable(self) -> str | None:
        """Why this combination measures nothing, if it does not: a geometric condition moves the
        face within the image, and already aligned faces are never detected (a sweep skips it)."""
        if self.dataset.aligned and self.stress.name in GEOMETRIC_CONDITIONS:
            return (
                f"stress={self.stress.name.value} is geometric: on already aligned faces "
                f"(dataset={self.dataset.name}) there is no detection or alignment for it to test"
            )
        if self.detector.source is FaceSource.given and self.stress.name in GEOMETRIC_CONDITIONS:
            return (
                f"stress={self.stress.name.value} is geometric: it moves the face away from the "
                "landmarks the data set gives (detector=given)"
            )
        return None

    @property
    def repeats_the_clean_job(self) -> str | None:
        """In a sweep over severities, why this job would repeat another: without a condition the
        severity changes nothing, so only severity 1 of ``stress=none`` runs."""
        if not self.stress.active and self.stress.severity != 1:
            severity = self.stress.severity
            return f"stress=none ignores severity: severity {severity} would repeat its severity-1 job"
        return None

    @property
    def run_name(self) -> str:
        if self.tracking.run_name:
            return self.tracking.run_name
        name = f"{self.detector.name}+{self.model.name}@{self.dataset.name}"
        return f"{name} [{self.stress.label}]" if self.stress.active else name
