"""The options of every detector, one dataclass each: the schema its YAML is checked against.

One vocabulary across methods: ``score_threshold`` (the lowest face score kept), ``nms_threshold``
(the IoU above which the weaker of two boxes is suppressed), ``input_size`` (the side, in pixels,
the network sees) and ``path`` (an explicit weights file; ``None`` asks the asset resolver).
The factories in ``bench.detectors`` receive these objects; defaults live here and nowhere else
(the YAML repeats them for the reader, and a test checks that the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.config.enums import BlazeFaceModel, InputPadding, YoloV8Backend, YuNetBackend
from bench.config.validate import require


def _option(key: str) -> str:
    return f"detector.options.{key}"


def _check_unit(key: str, value: float) -> None:
    require(0.0 <= value <= 1.0, _option(key), "must lie in [0, 1]", value)


def _check_thresholds(options: object) -> None:
    """Scores are probabilities and IoUs fractions: a threshold outside [0, 1] keeps every face
    or none, silently."""
    for key in ("score_threshold", "nms_threshold"):
        _check_unit(key, getattr(options, key))


@dataclass
class PassthroughOptions:
    """``none``: no options; the images are already aligned faces."""


@dataclass
class GivenLandmarksOptions:
    """``given``: no options; each face's five points come from the data set (IJB's release)."""


@dataclass
class CenterCropOptions:
    #: Side of the centred square as a fraction of the image's shorter side.
    fraction: float = 0.5

    def __post_init__(self) -> None:
        require(0.0 < self.fraction <= 1.0, _option("fraction"), "must lie in (0, 1]", self.fraction)


@dataclass
class YuNetOptions:
    backend: YuNetBackend = YuNetBackend.onnxruntime
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    #: Candidates kept by the NMS.
    top_k: int = 5000
    path: str | None = None

    def __post_init__(self) -> None:
        _check_thresholds(self)
        require(self.top_k >= 1, _option("top_k"), "must be >= 1", self.top_k)


@dataclass
class MTCNNOptions:
    """A cascade: one score and one NMS threshold per stage (P-, R-, O-Net)."""

    min_face_size: int = 20
    score_threshold: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.7])
    nms_threshold: list[float] = field(default_factory=lambda: [0.7, 0.7, 0.7])
    scale_factor: float = 0.709
    #: A folder holding ``pnet.pt``, ``rnet.pt`` and ``onet.pt``.
    path: str | None = None

    def __post_init__(self) -> None:
        for key in ("score_threshold", "nms_threshold"):
            values = getattr(self, key)
            require(len(values) == 3, _option(key), "needs one value per net (P, R, O)", values)
            require(
                all(0.0 <= value <= 1.0 for value in values),
                _option(key),
                "must lie in [0, 1] for every net",
                values,
            )
        require(
            0.0 < self.scale_factor < 1.0, _option("scale_factor"), "must lie in (0, 1)", self.scale_factor
        )
        require(self.min_face_size >= 1, _option("min_face_size"), "must be >= 1", self.min_face_size)


@dataclass
class RetinaFaceOptions:
    score_threshold: float = 0.5
    nms_threshold: float = 0.4
    #: Candidates entering the NMS, and faces kept after it.
    top_k: int = 5000
    keep_top_k: int = 750
    #: Images whose longer side exceeds this are shrunk to it; ``None``: native size.
    input_size: int | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        _check_thresholds(self)
        if self.input_size is not None:
            require(
                self.input_size >= 32, _option("input_size"), "must be >= 32 pixels or null", self.input_size
            )


#: The coarsest stride of the YOLO detectors' heads: inputs are multiples of it.
YOLO_STRIDE = 32


def _check_yolo_input(options: YoloV5FaceOptions | YoloV8FaceOptions) -> None:
    require(
        options.input_size >= YOLO_STRIDE and options.input_size % YOLO_STRIDE == 0,
        _option("input_size"),
        f"must be a positive multiple of {YOLO_STRIDE} pixels",
        options.input_size,
    )


@dataclass
class YoloV5FaceOptions:
    #: On objectness x class.
    score_threshold: float = 0.5
    nms_threshold: float = 0.5
    #: The letterbox side: larger images are shrunk to fit it.
    input_size: int = 640
    #: ``stride``: pad to the next multiple of 32 (an image runs at about its own size);
    #: ``square``: pad to ``input_size`` x ``input_size``, as the reference.
    pad_to: InputPadding = InputPadding.stride
    #: True: enlarge small images to fill ``input_size`` (as the reference); false: pad only.
    upscale: bool = False
    path: str | None = None

    def __post_init__(self) -> None:
        _check_thresholds(self)
        _check_yolo_input(self)


@dataclass
class YoloV8FaceOptions:
    backend: YoloV8Backend = YoloV8Backend.onnxruntime
    score_threshold: float = 0.25
    nms_threshold: float = 0.5
    #: The letterbox side: larger images are shrunk to fit it.
    input_size: int = 640
    #: onnxruntime backend: ``stride`` (``None``) pads to the next multiple of 32, ``square`` to
    #: ``input_size`` x ``input_size``. ultralytics backend: ``None`` only, Ultralytics pads as
    #: the model allows (square for the fixed export, to the stride for a ``.pt``).
    pad_to: InputPadding | None = None
    #: False: pad smaller images unscaled; true: enlarge them to fill ``input_size``.
    upscale: bool = False
    path: str | None = None

    def __post_init__(self) -> None:
        _check_thresholds(self)
        _check_yolo_input(self)


@dataclass
class MediaPipeDetectionOptions:
    model: BlazeFaceModel = BlazeFaceModel.short_range
    score_threshold: float = 0.5
    nms_threshold: float = 0.3
    path: str | None = None

    def __post_init__(self) -> None:
        _check_thresholds(self)


@dataclass
class MediaPipeMeshOptions:
    #: The mesh's face-presence probability below which a face is dropped.
    score_threshold: float = 0.5
    #: Crop side / BlazeFace box's longer side.
    roi_scale: float = 1.5
    #: The 468-point face mesh ``.tflite``.
    path: str | None = None
    #: The BlazeFace detector whose boxes and eyes place the mesh's crops.
    box_detector_options: MediaPipeDetectionOptions = field(default_factory=MediaPipeDetectionOptions)

    def __post_init__(self) -> None:
        _check_unit("score_threshold", self.score_threshold)
        require(self.roi_scale > 0, _option("roi_scale"), "must be positive", self.roi_scale)


@dataclass
class RTMPoseOptions:
    #: Any registered detector that gives face boxes, and its options (its defaults when empty).
    box_detector: str = "yunet"
    box_detector_options: dict[str, Any] = field(default_factory=dict)
    #: Crop = box x this, grown to the input's aspect ratio.
    box_padding: float = 1.25
    #: SimCC bins per input pixel (the face6 codec).
    simcc_split_ratio: float = 2.0
    path: str | None = None

    def __post_init__(self) -> None:
        require(
            self.box_detector != "rtmpose",
            _option("box_detector"),
            "must be another detector",
            self.box_detector,
        )
        require(self.box_padding > 0, _option("box_padding"), "must be positive", self.box_padding)
        require(
            self.simcc_split_ratio > 0,
            _option("simcc_split_ratio"),
            "must be positive",
            self.simcc_split_ratio,
        )


@dataclass
class ReferenceOptions:
    #: Five-point detectors whose landmarks are combined, each with its default options.
    methods: list[str] = field(default_factory=lambda: ["retinaface", "mtcnn", "yunet", "yolov5_face"])
    #: Fewest of them that must find the face for the image to get a reference.
    min_methods: int = 3

    def __post_init__(self) -> None:
        require(
            len(set(self.methods)) == len(self.methods) and "reference" not in self.methods,
            _option("methods"),
            "must name distinct detectors other than reference",
            self.methods,
        )
        require(
            3 <= self.min_methods <= len(self.methods),
            _option("min_methods"),
            f"must lie in [3, {len(self.methods)}] (a median of at least three)",
            self.min_methods,
        )


#: The detector whose landmarks are the data set's own (IJB's ``name_5pts_score`` file).
GIVEN_LANDMARKS = "given"
#: Registered detectors that are not methods to compare: ``none`` passes aligned faces through,
#: ``reference`` is the median of other methods (the reference of landmark error), ``given``
#: runs only on a data set that carries landmarks.
NOT_COMPARED = frozenset({"none", "reference", GIVEN_LANDMARKS})

#: Detector name -> its options schema: the ``detector`` config group's options, one each.
DETECTOR_OPTIONS: dict[str, type] = {
    "none": PassthroughOptions,
    GIVEN_LANDMARKS: GivenLandmarksOptions,
    "center_crop": CenterCropOptions,
    "yunet": YuNetOptions,
    "mtcnn": MTCNNOptions,
    "retinaface": RetinaFaceOptions,
    "yolov5_face": YoloV5FaceOptions,
    "yolov8_face": YoloV8FaceOptions,
    "mediapipe_detection": MediaPipeDetectionOptions,
    "mediapipe_mesh": MediaPipeMeshOptions,
    "rtmpose": RTMPoseOptions,
    "reference": ReferenceOptions,
}
