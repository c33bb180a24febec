"""MediaPipe Face Mesh: 468 landmarks on a BlazeFace crop, the mesh model run under LiteRT.

As MediaPipe's face landmark graph does: each BlazeFace detection becomes a square region around
its box centre, ``roi_scale`` (1.5) times the box's longer side, rotated so that the line from
the image-left eye keypoint to the image-right one is horizontal; that region is warped to the
model's 192x192 input (RGB in [0, 1], bilinear, zeros outside the image). The model gives 468
``(x, y, z)`` points in crop pixels and a face-presence logit; the points are mapped back to the
image and faces whose presence (sigmoid) is below ``min_presence_confidence`` are dropped, as
the Tasks FaceLandmarker drops them (``min_face_presence_confidence``).

The five alignment points come from documented mesh indices:

* eyes: the mean of each eye's contour (MediaPipe's ``FACE_LANDMARKS_LEFT_EYE`` /
  ``FACE_LANDMARKS_RIGHT_EYE`` connections). MediaPipe's "left" is the subject's left, on the
  image's right, so its right-eye contour gives ``left_eye``;
* nose: index 4, on the ridge just above the tip. Index 1, the tip that the TF.js face-mesh annotations
  name ``noseTip``, sits lower: measured on 150 LFW faces, the nose's position between the eye
  line and the mouth-corner line is 0.50 for index 4 and 0.59 for index 1, against 0.49 in the
  ArcFace template the aligner fits (YuNet, RetinaFace and MTCNN give 0.53-0.57). Index 4 is the
  point that lands where the template expects the nose;
* mouth corners: 61 (subject's right, image left) and 291.

The full mesh stays with each face: ``detect`` returns ``MeshFace``, a ``Face`` with an extra
``mesh`` field (468x3: x, y in image pixels, z relative depth in the same pixel scale), so the
detector interface and the aligner are unchanged and the mesh is at hand for drawing.

The Tasks ``FaceLandmarker`` would run the same models, but it needs a ``.task`` bundle
(detector + mesh + blendshapes), which is not available here; hence LiteRT for the mesh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from bench.assets import resolve
from bench.detectors.base import FIVE_POINTS, Detector, Face
from bench.detectors.mediapipe_common import cpu_device
from bench.detectors.mediapipe_detection.detector import MediaPipeFaceDetector
from bench.detectors.mediapipe_mesh import MESH_WEIGHTS
from bench.detectors.mediapipe_mesh.options import MediaPipeMeshOptions
from bench.runtime import Runtime

MESH_POINTS = 468

# Eye contours of the 468-point mesh: the indices in MediaPipe's
# ``mediapipe.tasks.python.vision.face_landmarker.FaceLandmarksConnections`` (the same sets as
# ``FACEMESH_LEFT_EYE`` / ``FACEMESH_RIGHT_EYE`` of the legacy ``face_mesh_connections``).
#: The subject's left eye (on the image's right).
MESH_LEFT_EYE: tuple[int, ...] = (
    249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
)  # fmt: skip
#: The subject's right eye (on the image's left).
MESH_RIGHT_EYE: tuple[int, ...] = (
    7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
)  # fmt: skip
#: The nose point: index 4, where the template expects the nose (see the module docstring).
MESH_NOSE = 4
#: Mouth corners: the subject's right (image left) and left (image right).
MESH_MOUTH_CORNERS: tuple[int, int] = (61, 291)


@dataclass(frozen=True)
class MeshFace(Face):
    """A ``Face`` whose five landmarks come from a face mesh, with the mesh itself.

    ``mesh`` is ``(468, 3)``: x, y in image pixels, z the model's relative depth scaled like x, y.
    ``presence`` is the mesh model's face-presence probability.
    """

    mesh: np.ndarray | None = None
    presence: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mesh is not None:
            object.__setattr__(self, "mesh", np.asarray(self.mesh, dtype=np.float32).reshape(-1, 3))


def five_points(mesh: np.ndarray) -> np.ndarray:
    """The ``FIVE_POINTS`` (image-left eye first) from a 468-point mesh's x, y."""
    points = mesh[:, :2]
    return np.stack(
        [
            points[list(MESH_RIGHT_EYE)].mean(axis=0),
            points[list(MESH_LEFT_EYE)].mean(axis=0),
            points[MESH_NOSE],
            points[MESH_MOUTH_CORNERS[0]],
            points[MESH_MOUTH_CORNERS[1]],
        ]
    )


def roi_transform(face: Face, size: int, scale: float) -> np.ndarray:
    """The 2x3 map from crop to image coordinates (both continuous: pixel edges at integers) of
    the square, eye-levelled region around ``face`` that the mesh model sees as ``size`` x ``size``."""
    assert face.landmarks is not None
    x1, y1, x2, y2 = (float(v) for v in face.box)
    side = scale * max(x2 - x1, y2 - y1)
    dx, dy = face.landmarks[1] - face.landmarks[0]
    angle = np.arctan2(dy, dx)
    linear = (side / size) * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    return np.hstack([linear, (centre - linear @ np.array([size / 2, size / 2]))[:, None]])


class MediaPipeMeshDetector(Detector):
    """BlazeFace (``mediapipe_detection``) then the 468-point face mesh on each face, on the CPU.

    One LiteRT invocation per face: the model's batch-1 input can be resized, but on the CPU a
    stacked batch measured no faster than single crops, and the crops per batch vary.
    """

    def __init__(self, options: MediaPipeMeshOptions, runtime: Runtime) -> None:
        self.device = cpu_device(runtime, "mediapipe_mesh")
        self.min_presence_confidence = options.score_threshold
        self.roi_scale = options.roi_scale
        self.weights = resolve(MESH_WEIGHTS.name, options.path)
        self._interpreter = Interpreter(model_path=str(self.weights), num_threads=runtime.detect_threads)
        try:
            self._interpreter.allocate_tensors()
        except RuntimeError as error:
            raise RuntimeError(
                f"LiteRT cannot run the face mesh model {self.weights}: {error} "
                "(a model with MediaPipe custom ops, such as the attention mesh, needs MediaPipe's graph)"
            ) from error
        (tensor,) = self._interpreter.get_input_details()
        self._input = tensor["index"]
        self._size = int(tensor["shape"][1])
        outputs = {int(np.prod(out["shape"])): out["index"] for out in self._interpreter.get_output_details()}
        if MESH_POINTS * 3 not in outputs or 1 not in outputs:
            raise ValueError(f"{self.weights.name} has no {MESH_POINTS}x3 mesh and presence outputs")
        self._mesh_output, self._presence_output = outputs[MESH_POINTS * 3], outputs[1]
        # Last: a mesh model that fails to load leaves no BlazeFace task behind (see close()).
        self.face_detector = MediaPipeFaceDetector(options.box_detector_options, runtime)

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        images = [np.ascontiguousarray(image) for image in images]
        detections = self.face_detector.detect(images)
        return [
            [mesh for face in faces if (mesh := self._mesh(image, face)) is not None]
            for image, faces in zip(images, detections, strict=True)
        ]

    def _mesh(self, image: np.ndarray, face: Face) -> MeshFace | None:
        """Run the mesh model on ``face``'s region; ``None`` when it sees no face there."""
        to_image = roi_transform(face, self._size, self.roi_scale)
        # warpAffine samples pixel centres: crop pixel (u, v) is the continuous point
        # (u + 0.5, v + 0.5), and continuous image x is sample x - 0.5.
        sampling = to_image.copy()
        sampling[:, 2] += to_image[:, :2] @ np.array([0.5, 0.5]) - 0.5
        crop = cv2.warpAffine(
            image,
            sampling,
            (self._size, self._size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        self._interpreter.set_tensor(self._input, (crop[None] / np.float32(255)).astype(np.float32))
        self._interpreter.invoke()
        logit = float(self._interpreter.get_tensor(self._presence_output).reshape(()))
        presence = 0.5 * (1.0 + math.tanh(logit / 2))  # the sigmoid, without overflow
        if presence < self.min_presence_confidence:
            return None
        raw = self._interpreter.get_tensor(self._mesh_output).reshape(MESH_POINTS, 3)
        mesh = np.empty_like(raw)
        mesh[:, :2] = raw[:, :2] @ to_image[:, :2].T + to_image[:, 2]
        mesh[:, 2] = raw[:, 2] * np.linalg.norm(to_image[:, 0])
        return MeshFace(
            box=face.box,
            score=face.score,
            landmarks=five_points(mesh),
            landmark_names=FIVE_POINTS,
            mesh=mesh,
            presence=presence,
        )

    def close(self) -> None:
        self.face_detector.close()

    def describe(self) -> dict[str, str]:
        blazeface = self.face_detector.describe()
        return {
            **blazeface,
            **super().describe(),
            "detector_backend": f"{blazeface['detector_backend']} + LiteRT face mesh (CPU)",
            "detector_mesh_weights": str(self.weights),
        }
