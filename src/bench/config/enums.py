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


class YuNetBackend(StrEnum):
    onnxruntime = "onnxruntime"
    opencv = "opencv"


class YoloV8Backend(StrEnum):
    ultralytics = "ultralytics"
    onnxruntime = "onnxruntime"


class InputPadding(StrEnum):
    """How far a letterboxed image is padded: to the next multiple of the network's stride (a
    250x250 image runs at 256x256), or to the full ``input_size`` square of the published recipe."""

    stride = "stride"
    square = "square"


class BlazeFaceModel(StrEnum):
    """Short range: faces within ~2 m (128x128 input); full range: smaller, farther faces (192x192)."""

    short_range = "short_range"
    full_range = "full_range"


class StressCondition(StrEnum):
    """A degradation of each image before detection (``bench.stress``).

    Photometric: the ImageNet-C corruptions (Hendrycks and Dietterich, 2019) as the maintained
    ``imagecorruptions`` fork implements them. Geometric: ``rotation`` (in-plane, about the image
    centre), ``small_face`` (the image shrunk and placed off-centre on a black canvas twice its
    size), ``downscale`` (the whole image made smaller, detected at that size) and ``occlusion``
    (a black square over a random part of the image). Placed by the face's reference landmarks:
    ``resolution`` (the image shrunk until the eyes are so many pixels apart), ``eye_band`` (a
    black band over both eyes), ``lower_face`` (the face black from the mouth up) and
    ``distractor`` (another person's face from the run's images pasted beside this one).
    """

    none = "none"
    gaussian_noise = "gaussian_noise"
    shot_noise = "shot_noise"
    impulse_noise = "impulse_noise"
    speckle_noise = "speckle_noise"
    defocus_blur = "defocus_blur"
    glass_blur = "glass_blur"
    motion_blur = "motion_blur"
    zoom_blur = "zoom_blur"
    gaussian_blur = "gaussian_blur"
    snow = "snow"
    frost = "frost"
    fog = "fog"
    spatter = "spatter"
    brightness = "brightness"
    contrast = "contrast"
    saturate = "saturate"
    elastic_transform = "elastic_transform"
    pixelate = "pixelate"
    jpeg_compression = "jpeg_compression"
    rotation = "rotation"
    small_face = "small_face"
    downscale = "downscale"
    occlusion = "occlusion"
    resolution = "resolution"
    eye_band = "eye_band"
    lower_face = "lower_face"
    distractor = "distractor"


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
