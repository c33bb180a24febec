"""YOLOv8-face through Ultralytics: ``YOLO(path, task="pose")``, the ``ultralytics`` backend.

``path`` is the Ultralytics-loadable ONNX (asset ``yolov8_face_ultralytics``: the lite-t network
with the pose decode appended, output ``[1, 20, 8400]``) or a YOLOv8n-face ``.pt`` the user
supplies; both go through the same call. Ultralytics letterboxes, thresholds, runs the NMS and
maps boxes and keypoints back to the image; the keypoints are the model's
(``result.keypoints.xy``).

Offline: ``YOLO_OFFLINE=1`` (set here before Ultralytics is first imported, and exported by
``make``) makes Ultralytics' online check false without a DNS lookup, so its requirement
checks never try to install and nothing is fetched; prediction with ``verbose=False`` logs
nothing per batch. The model's one-time load messages are silenced.

Batching: the ONNX graph has a fixed batch of 1, and Ultralytics runs a list of images through
it one forward pass per image (it reads the export's batch from the metadata and splits);
pre- and post-processing are still done for the whole list at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from bench.assets import resolve
from bench.backends import ProviderError
from bench.detectors.base import Detector, Face
from bench.detectors.letterbox import clip_faces, pad_small
from bench.detectors.yolov8_face.options import YoloV8FaceOptions
from bench.runtime import Runtime

os.environ.setdefault("YOLO_OFFLINE", "1")

#: Ultralytics' per-image detection cap (its default, passed explicitly).
MAX_DETECTIONS = 300


def ultralytics_device(runtime: Runtime) -> str | int:
    """Ultralytics' device argument: ``"cpu"`` or the CUDA index the runtime resolved."""
    return "cpu" if not runtime.is_cuda else int(runtime.device.index or 0)


@contextmanager
def _quiet_load() -> Iterator[None]:
    """Silence the one-time load chatter: Ultralytics' "Loading ... / Using ONNX Runtime ..."
    lines and ONNX Runtime's warnings about unused initializers in the exported graph."""
    import onnxruntime as ort

    logger = logging.getLogger("ultralytics")
    level = logger.level
    logger.setLevel(logging.WARNING)
    ort.set_default_logger_severity(3)
    try:
        yield
    finally:
        ort.set_default_logger_severity(2)  # ONNX Runtime's default (warnings)
        logger.setLevel(level)


class UltralyticsYoloV8Face(Detector):
    """YOLOv8-face through ``ultralytics.YOLO``; images go in as one list per ``detect`` call.

    The runtime's ONNX Runtime providers cannot be passed to Ultralytics, which picks CUDA for a
    GPU device and the CPU otherwise; the provider it ran is checked against the first one the
    runtime asks for, so a mismatch is an error rather than a silent fall-back.
    """

    def __init__(self, options: YoloV8FaceOptions, runtime: Runtime) -> None:
        import ultralytics
        from ultralytics import YOLO

        if options.pad_to is not None:
            raise ValueError(
                f"detector.options.pad_to={options.pad_to}: the ultralytics backend pads as Ultralytics "
                "does for the model (square for the fixed ONNX export, to the stride for a .pt); "
                "leave pad_to unset, or use backend=onnxruntime"
            )
        self._device_arg, self.device = ultralytics_device(runtime), runtime.device_name
        self.weights = resolve("yolov8_face_ultralytics", options.path)
        self.score_threshold = options.score_threshold
        self.nms_threshold = options.nms_threshold
        self.input_size = options.input_size
        self.upscale = options.upscale
        self.version = ultralytics.__version__
        with _quiet_load():
            self.model = YOLO(str(self.weights), task="pose")
            if self.model.task != "pose":  # a .pt's own training arguments name its task
                raise ValueError(
                    f"{self.weights}: Ultralytics loads it as a {self.model.task!r} model; "
                    "yolov8_face needs a pose model with 5 face keypoints"
                )
            # The first prediction builds the predictor (and the ONNX Runtime session): do it
            # now, so that load errors surface here and detect() times only detection.
            self._predict([np.zeros((self.input_size, self.input_size, 3), dtype=np.uint8)])
        backend = self.model.predictor.model
        self.runtime, self.provider = self._check_runtime(backend, runtime.onnx_providers[0])
        keypoints = tuple(getattr(backend, "kpt_shape", ()))
        if keypoints != (5, 3):
            raise ValueError(f"{self.weights}: not a 5-keypoint face model (kpt_shape {keypoints})")
        if backend.format == "onnx" and not backend.dynamic:
            self.input = (
                f"letterbox {self.input_size}, {backend.batch} image per forward (fixed-batch export)"
            )
        else:
            self.input = f"letterbox {self.input_size}, the whole list per forward"
        used = list(self.model.predictor.imgsz)
        if used != [self.input_size, self.input_size]:
            raise ValueError(
                f"{self.weights}: the export is fixed at {used}; "
                f"input_size={self.input_size} cannot run on it"
            )

    def _check_runtime(self, backend: Any, wanted: str) -> tuple[str, str | None]:
        """What runs the network (``onnxruntime <version>`` or ``torch <version>``) and, for
        ONNX, its execution provider, after checking that it runs where it was asked to."""
        ran_on = torch.device(backend.device)
        if ran_on != torch.device(self.device):
            raise RuntimeError(
                f"{self.weights.name}: asked for {self.device}, Ultralytics runs it on {ran_on}"
            )
        if backend.format != "onnx":
            return f"torch {torch.__version__} ({backend.format})", None
        import onnxruntime as ort

        ran = backend.session.get_providers()[0]
        if ran != wanted:
            raise ProviderError(
                f"{self.weights.name}: asked for {wanted} on {self.device}, but Ultralytics runs it on {ran}"
            )
        return f"onnxruntime {ort.__version__}", ran

    def _predict(self, images_bgr: list[np.ndarray]) -> list[Any]:
        return self.model.predict(
            images_bgr,
            imgsz=self.input_size,
            conf=self.score_threshold,
            iou=self.nms_threshold,
            max_det=MAX_DETECTIONS,
            device=self._device_arg,
            verbose=False,
        )

    def _detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        if not images:
            return []
        inputs = images if self.upscale else [pad_small(image, self.input_size) for image in images]
        # Ultralytics takes numpy images as OpenCV's BGR (it flips them back to RGB itself).
        results = self._predict([np.ascontiguousarray(image[..., ::-1]) for image in inputs])
        return [
            clip_faces(self._faces(result), image.shape)
            for result, image in zip(results, images, strict=True)
        ]

    @staticmethod
    def _faces(result: Any) -> list[Face]:
        boxes = result.boxes.xyxy.cpu().numpy()
        scores = result.boxes.conf.cpu().numpy()
        keypoints = result.keypoints.xy.cpu().numpy()
        return [
            Face(box=boxes[i], score=float(scores[i]), landmarks=keypoints[i])
            for i in np.argsort(-scores, kind="stable")
        ]

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "detector_backend": f"ultralytics {self.version}",
            "detector_runtime": self.runtime,
            "detector_weights": str(self.weights),
            "detector_input": self.input,
            **({"detector_provider": self.provider} if self.provider else {}),
        }
