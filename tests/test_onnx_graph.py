"""Graphs exported at one size, edited to run at any batch and size (``bench.backends.onnx_graph``):
at the export's own size they compute exactly what the export does, and a batch gives each
image what it gets alone."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from bench.assets import resolve
from bench.backends.onnx_graph import any_size_graph

ASSETS = ("yolov5_face", "yolov8_face", "yunet")


def session(path: object) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def outputs(model: ort.InferenceSession, blob: np.ndarray) -> list[np.ndarray]:
    return model.run(None, {model.get_inputs()[0].name: blob})


@pytest.mark.parametrize("asset", ASSETS)
def test_at_the_export_size_the_outputs_are_the_same(asset: str) -> None:
    weights = resolve(asset)
    original, edited = session(weights), session(any_size_graph(weights))
    blob = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32) * 255
    for expected, got in zip(outputs(original, blob), outputs(edited, blob), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("asset", ("yolov5_face", "yolov8_face"))
def test_any_size_and_batch(asset: str) -> None:
    edited = session(any_size_graph(resolve(asset)))
    blob = np.random.default_rng(1).random((2, 3, 256, 320), dtype=np.float32) * 255
    batched = outputs(edited, blob)
    assert batched[0].shape[0] == 2 and batched[0].shape[2:4] == (256 // 8, 320 // 8)  # stride 8
    for row in range(2):
        for whole, alone in zip(batched, outputs(edited, blob[row : row + 1]), strict=True):
            np.testing.assert_allclose(whole[row : row + 1], alone, rtol=1e-4, atol=1e-4)
