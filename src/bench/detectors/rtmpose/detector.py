"""RTMPose face keypoints (mmpose's RTMPose-m "face6"), top-down on ONNX Runtime.

RTMPose is a keypoint model, not a face detector: another registered detector
(``box_detector``, YuNet by default) finds the face boxes, each box is cropped, and RTMPose
predicts 106 keypoints in the LaPa layout, five of which become the documented points. The
steps are those of mmpose's top-down inference for this model (``GetBBoxCenterScale``,
``TopdownAffine``, ``SimCCLabel.decode``; config
``configs/face_2d_keypoint/rtmpose/face6/rtmpose-m_8xb256-120e_face6-256x256.py``):

1. Box centre and size; the size times ``box_padding`` (1.25), then the shorter side grown to
   the model input's aspect ratio (1:1 for 256x256): the crop never squashes the face.
2. Affine warp of that region to the input (bilinear, black outside the image), RGB,
   ``(x - mean) / std`` with the ImageNet mean/std in 0-255 units (the config's
   ``PoseDataPreprocessor``; the mmdeploy ONNX export leaves normalisation to the caller).
3. Outputs ``simcc_x`` ``(N, K, W * r)`` and ``simcc_y`` ``(N, K, H * r)``, ``r`` =
   ``simcc_split_ratio`` = 2: a keypoint's crop coordinate is its argmax bin / ``r``; its score
   is the smaller of the two maxima, as mmpose's ``get_simcc_maximum`` (rtmlib averages them).
4. The inverse warp back to image pixels.

The five points, read from the face6 config's conversions of other datasets into the 106
layout (``kpt_68_to_106`` for 300W/COCO-WholeBody-Face, ``mapping_wflw`` for WFLW), whose
own layouts number from the image's left for an upright face:

=============  =====  ===============================================
point          index  source
=============  =====  ===============================================
``left_eye``    104   WFLW 96, the pupil of the image-left eye
``right_eye``   105   WFLW 97, the other pupil
``nose``         54   300W 30 (WFLW 54), the nose tip
``left_mouth``   84   300W 48 (WFLW 76), the image-left mouth corner
``right_mouth``  90   300W 54 (WFLW 82), the other mouth corner
=============  =====  ===============================================

mmpose's ``lapa.py`` metadata pairs 104/105 and 84/90 as left/right mirror partners. Like
every label of the training sets, they follow the subject's side (the subject's right eye is
104), which for an upright face is the image's left: the documented order.

Deliberate differences from mmpose's own evaluation: its config tests with ``flip_test``
(averaging with the mirrored crop); the ONNX SDK export and rtmlib run one pass, as here.
mmpose marks a keypoint whose score is not positive as missing (location -1); here its
argmax is kept, since the five-point contract has no missing point. A face's score is the
box detector's: SimCC maxima are not detection confidences (``estimate`` gives them).

Coordinates: ``cv2.warpAffine`` centres pixel ``i`` at ``i``, while boxes and landmarks here
are pixel-edge coordinates (pixel ``i`` spans ``[i, i + 1]``), so the warp uses the box
centre minus half a pixel and decoded points come back in pixel-edge coordinates.

Batching: the crops of all images of a call run through the network together, in chunks of
at most ``_MAX_CROPS_PER_PASS``, or of the graph's batch size when it fixes one (e.g. 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from bench.assets import resolve
from bench.detectors.base import Detector, Face
from bench.detectors.onnx_detector import OnnxDetector
from bench.detectors.registry import bind_options, create_detector
from bench.detectors.rtmpose import WEIGHTS
from bench.detectors.rtmpose.options import RTMPoseOptions
from bench.runtime import Runtime

#: Keypoints of the LaPa (JD-106) layout the face6 model predicts.
NUM_KEYPOINTS = 106
#: Indices of (left_eye, right_eye, nose, left_mouth, right_mouth) in that layout (see above).
FIVE_POINT_INDICES = (104, 105, 54, 84, 90)
#: The training config's ``PoseDataPreprocessor`` mean and std, RGB, 0-255 units.
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
#: Most crops in one forward pass when the batch axis is dynamic (bounds activation memory).
_MAX_CROPS_PER_PASS = 64
_OUTPUTS = ("simcc_x", "simcc_y")


@dataclass(frozen=True)
class CropRegion:
    """The image region one crop shows: its centre and size in pixel-edge coordinates."""

    centre: np.ndarray  # (2,) x, y
    size: np.ndarray  # (2,) width, height, at the input's aspect ratio

    @classmethod
    def around(cls, box: np.ndarray, input_size: tuple[int, int], padding: float) -> CropRegion:
        """The padded box grown to the aspect ratio of ``input_size`` (width, height)."""
        x1, y1, x2, y2 = (float(v) for v in box)
        # A box clipped away to nothing still gets a 1-pixel region, not a division by zero.
        width, height = max((x2 - x1) * padding, 1.0), max((y2 - y1) * padding, 1.0)
        aspect = input_size[0] / input_size[1]
        if width > height * aspect:
            height = width / aspect
        else:
            width = height * aspect
        return cls(np.array([(x1 + x2) / 2, (y1 + y2) / 2]), np.array([width, height]))

    def warp_matrix(self, input_size: tuple[int, int]) -> np.ndarray:
        """The 2x3 matrix ``cv2.warpAffine`` needs (its pixel ``i`` is centred at ``i``)."""
        scale = np.asarray(input_size, dtype=np.float64) / self.size
        shift = np.asarray(input_size) / 2 - scale * (self.centre - 0.5)
        return np.array([[scale[0], 0.0, shift[0]], [0.0, scale[1], shift[1]]])

    def to_image(self, points: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
        """Map ``(..., 2)`` crop-pixel coordinates (the warp's grid) to image pixel edges."""
        return points * (self.size / np.asarray(input_size)) + self.centre - self.size / 2


def decode_simcc(
    simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Crop coordinates ``(N, K, 2)`` and scores ``(N, K)`` from SimCC vectors: argmax bin /
    ``split_ratio``, score the smaller of the x and y maxima (mmpose's ``get_simcc_maximum``)."""
    points = np.stack([simcc_x.argmax(axis=-1), simcc_y.argmax(axis=-1)], axis=-1).astype(np.float32)
    scores = np.minimum(simcc_x.max(axis=-1), simcc_y.max(axis=-1))
    return points / split_ratio, scores


class RTMPoseDetector(OnnxDetector):
    """Boxes from ``box_detector`` (created with ``box_detector_options``, on the same runtime),
    106 keypoints per box from RTMPose-m face6, the five documented points kept as landmarks."""

    def __init__(self, options: RTMPoseOptions, runtime: Runtime) -> None:
        # Bound first, so that a bad box-detector option fails before any model loads.
        box_options = bind_options(options.box_detector, options.box_detector_options)
        super().__init__(resolve(WEIGHTS.name, options.path), runtime)
        _, _, height, width = self.session.input_shape
        if not (isinstance(height, int) and isinstance(width, int)):
            raise ValueError(f"{self.weights}: the input size must be fixed, got {self.session.input_shape}")
        missing = [name for name in _OUTPUTS if name not in self.session.output_names]
        if missing:
            raise ValueError(
                f"{self.weights}: no output {missing}; outputs are {self.session.output_names} "
                "(expected an RTMPose SimCC export)"
            )
        batch = self.session.input_shape[0]
        self._per_pass = batch if isinstance(batch, int) else _MAX_CROPS_PER_PASS
        self.input_size = (width, height)
        self.box_padding = options.box_padding
        self.split_ratio = options.simcc_split_ratio
        self.box_detector: Detector = create_detector(options.box_detector, runtime, box_options)

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        found = self.box_detector.detect(images)
        boxes = [np.array([face.box for face in faces], dtype=np.float32).reshape(-1, 4) for faces in found]
        results = []
        for faces, (points, _) in zip(found, self.estimate(images, boxes), strict=True):
            results.append(
                [
                    Face(box=face.box, score=face.score, landmarks=points[row, list(FIVE_POINT_INDICES)])
                    for row, face in enumerate(faces)
                ]
            )
        return results

    def estimate(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each image and its boxes ``(M, 4)``: all keypoints ``(M, 106, 2)`` in image
        pixels and their scores ``(M, 106)``."""
        regions: list[CropRegion] = []
        crops: list[np.ndarray] = []
        counts = []
        for image, image_boxes in zip(images, boxes, strict=True):
            counts.append(len(image_boxes))
            for box in image_boxes:
                region = CropRegion.around(box, self.input_size, self.box_padding)
                regions.append(region)
                crops.append(self._crop(image, region))

        points = np.empty((len(crops), NUM_KEYPOINTS, 2), dtype=np.float32)
        scores = np.empty((len(crops), NUM_KEYPOINTS), dtype=np.float32)
        for start in range(0, len(crops), self._per_pass):
            chunk = slice(start, start + self._per_pass)
            points[chunk], scores[chunk] = self._forward(np.stack(crops[chunk]))
        for row, region in enumerate(regions):
            points[row] = region.to_image(points[row], self.input_size)

        results, start = [], 0
        for count in counts:
            results.append((points[start : start + count], scores[start : start + count]))
            start += count
        return results

    def _crop(self, image: np.ndarray, region: CropRegion) -> np.ndarray:
        """The normalised ``3 x H x W`` network input showing ``region``."""
        crop = cv2.warpAffine(
            image, region.warp_matrix(self.input_size), self.input_size, flags=cv2.INTER_LINEAR
        )
        return ((crop.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Crop coordinates and scores of a stack of inputs."""
        outputs = dict(zip(self.session.output_names, self.session.run(batch), strict=True))
        simcc_x, simcc_y = (outputs[name] for name in _OUTPUTS)
        width, height = self.input_size
        expected_x = (len(batch), NUM_KEYPOINTS, round(width * self.split_ratio))
        expected_y = (len(batch), NUM_KEYPOINTS, round(height * self.split_ratio))
        if simcc_x.shape != expected_x or simcc_y.shape != expected_y:
            raise RuntimeError(
                f"{self.weights}: simcc_x {simcc_x.shape} and simcc_y {simcc_y.shape}, expected "
                f"{expected_x} and {expected_y}: not a 106-point face model for a {width}x{height} "
                f"input with simcc_split_ratio {self.split_ratio}"
            )
        return decode_simcc(simcc_x, simcc_y, self.split_ratio)

    def close(self) -> None:
        self.box_detector.close()

    def describe(self) -> dict[str, str]:
        width, height = self.input_size
        boxes = {f"box_{key}": value for key, value in self.box_detector.describe().items()}
        return {
            **super().describe(),
            "detector_input": f"{width}x{height} crops of the boxes x{self.box_padding}, batched",
            **boxes,
        }
