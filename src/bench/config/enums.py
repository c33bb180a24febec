"""The closed choices of the configuration.

Member names equal their values: OmegaConf matches a command-line string against the names, so
``selection=largest`` works and ``selection=biggest`` fails at composition with the choices listed.
"""

from __future__ import annotations

from enum import StrEnum


class Device(StrEnum):
    """``auto``: the GPU when there is one, else the CPU (the run records which)."""

    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


class Precision(StrEnum):
    """``auto``: the fastest path measured to keep LFW accuracy on this machine: fp32 on the CPU,
    fp16 on CUDA (``bench.models.kernels``)."""

    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


class EmbedBackend(StrEnum):
    """``auto``: ONNX Runtime for float models on the CPU (faster, same numbers), PyTorch otherwise."""

    auto = "auto"
    torch = "torch"
    onnxruntime = "onnxruntime"


class FaceSource(StrEnum):
    """Where a run's faces come from (``bench.pipeline.face_source``): a method that looks at the
    pixels, images that already are aligned faces (``detector=none``), or the five points the
    data set gives (``detector=given``, IJB's release). Set by the method's registration."""

    detected = "detected"
    aligned = "aligned"
    given = "given"


class Selection(StrEnum):
    """Which face is evaluated when a detector finds several (see ``bench.detectors.selection``)."""

    center_weighted = "center_weighted"
    largest = "largest"
    highest_score = "highest_score"


class FailurePolicy(StrEnum):
    """What an image without a detected face becomes."""

    #: Align the centre crop instead, so every pair is scored (the default).
    center_crop = "center_crop"
    #: Leave the image out; its pairs are not scored (and are counted as such).
    exclude = "exclude"
    #: Stop the run.
    error = "error"


class OnMissing(StrEnum):
    """What ``dataset.on_missing`` does with pairs that name images that do not exist."""

    #: Stop before any work, listing them all.
    error = "error"
    #: Keep the pairs; the runner counts each missing image as a failed image.
    count = "count"


class StressKind(StrEnum):
    """What a stress condition is: it decides what the condition takes and needs (``bench.stress.specs``)."""

    #: No degradation (``stress=none``).
    none = "none"
    #: An ImageNet-C corruption (Hendrycks and Dietterich, 2019) at the library's own severities.
    photometric = "photometric"
    #: The image moved, scaled or covered by bench's own code, at ``stress.levels``.
    geometric = "geometric"
    #: Geometric, and placed by the face's reference landmarks.
    placed_by_the_face = "placed_by_the_face"


class StressCondition(StrEnum):
    """A degradation of each image before detection (``bench.stress``; ``bench.stress.specs``
    says what each does and at which levels).

    Each member is declared with its kind: the configuration checks ``stress.levels`` by it, and
    it cannot import ``bench.stress``, where the rest of a condition's spec lives.
    """

    kind: StressKind

    def __new__(cls, value: str, kind: StressKind) -> StressCondition:
        member = str.__new__(cls, value)
        member._value_ = value
        member.kind = kind
        return member

    none = "none", StressKind.none
    gaussian_noise = "gaussian_noise", StressKind.photometric
    shot_noise = "shot_noise", StressKind.photometric
    impulse_noise = "impulse_noise", StressKind.photometric
    speckle_noise = "speckle_noise", StressKind.photometric
    defocus_blur = "defocus_blur", StressKind.photometric
    glass_blur = "glass_blur", StressKind.photometric
    motion_blur = "motion_blur", StressKind.photometric
    zoom_blur = "zoom_blur", StressKind.photometric
    gaussian_blur = "gaussian_blur", StressKind.photometric
    snow = "snow", StressKind.photometric
    frost = "frost", StressKind.photometric
    fog = "fog", StressKind.photometric
    spatter = "spatter", StressKind.photometric
    brightness = "brightness", StressKind.photometric
    contrast = "contrast", StressKind.photometric
    saturate = "saturate", StressKind.photometric
    elastic_transform = "elastic_transform", StressKind.photometric
    pixelate = "pixelate", StressKind.photometric
    jpeg_compression = "jpeg_compression", StressKind.photometric
    rotation = "rotation", StressKind.geometric
    small_face = "small_face", StressKind.geometric
    downscale = "downscale", StressKind.geometric
    occlusion = "occlusion", StressKind.geometric
    resolution = "resolution", StressKind.placed_by_the_face
    eye_band = "eye_band", StressKind.placed_by_the_face
    lower_face = "lower_face", StressKind.placed_by_the_face
    distractor = "distractor", StressKind.placed_by_the_face


class IjbTarget(StrEnum):
    """Which of insightface's IJB releases a ``dataset=ijbc``/``ijbb`` root holds."""

    IJBC = "IJBC"
    IJBB = "IJBB"


class StressSides(StrEnum):
    """Which images of a pair are degraded: both, or only the first (cross-quality, as XQLFW)."""

    both = "both"
    one = "one"


class Perturbation(StrEnum):
    """A controlled error added to the chosen face's landmarks before alignment."""

    none = "none"
    #: Gaussian noise on every coordinate, sigma = magnitude x inter-ocular distance.
    noise = "noise"
    #: Every point moved magnitude x inter-ocular distance in one random direction.
    shift = "shift"
    #: The points scaled about their centroid by 1 + magnitude or 1 - magnitude.
    scale = "scale"
    #: The points turned about their centroid by magnitude degrees, either way.
    rotation = "rotation"


class MarginLoss(StrEnum):
    """Training losses: insightface's margins (``bench.training.losses``)."""

    arcface = "arcface"
    cosface = "cosface"
    combined = "combined"


class OptimizerName(StrEnum):
    sgd = "sgd"
    adamw = "adamw"


class TrainDataKind(StrEnum):
    """An image folder (a folder per identity) or insightface's MXNet RecordIO."""

    folder = "folder"
    recordio = "recordio"
