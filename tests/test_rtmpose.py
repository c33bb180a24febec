"""RTMPose face6 top-down. The real weights are only on the OpenMMLab server, so the decoding is
checked on small ONNX graphs built here with the same interface (``input`` 1x3x256x256,
``simcc_x``/``simcc_y`` 1x106x512) around real YuNet boxes on real LFW images; the real model
is tested too when its file is present, here and in ``test_detector_contract.py`` (which skips
it otherwise; the face order, no-face and batching checks below run on the stand-ins)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench.alignment import similarity_to_template, template_points
from bench.assets import ASSETS, Asset, AssetError, AssetNotFoundError, resolve
from bench.assets import resolver as resolver_module
from bench.config import ConfigValueError
from bench.detectors import FIVE_POINTS, Face, create_detector, select_face
from bench.detectors.rtmpose.detector import FIVE_POINT_INDICES, RTMPoseDetector
from bench.detectors.rtmpose.options import RTMPoseOptions
from bench.runtime import Runtime

from .landmark_checks import assert_plausible_face

RUNTIME = Runtime.local("cpu", threads=1)

K, BINS = 106, 512  # keypoints; 256 input pixels x simcc_split_ratio 2
#: Where the constant model puts the five points, as fractions of the central 160 px of the
#: 256 px crop (the padded box spans about 205 px there): a face-like layout from the template.
FIVE_IN_CROP = 128 + (template_points(FIVE_POINTS) / 112 - 0.5) * 160
RNG = np.random.default_rng(0)
#: Per keypoint: the bins (crop x and y times 2) and the peak heights of the constant model.
BINS_X = RNG.integers(20, BINS - 20, K)
BINS_Y = RNG.integers(20, BINS - 20, K)
BINS_X[list(FIVE_POINT_INDICES)] = np.round(FIVE_IN_CROP[:, 0] * 2)
BINS_Y[list(FIVE_POINT_INDICES)] = np.round(FIVE_IN_CROP[:, 1] * 2)
PEAK_X = RNG.uniform(0.5, 1.0, K).astype(np.float32)
PEAK_Y = RNG.uniform(0.5, 1.0, K).astype(np.float32)
#: The training normalisation, written out here to check the detector's.
MEAN, STD = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])


def _save(path: Path, nodes: list, initializers: list, batch: int | str) -> Path:
    graph = helper.make_graph(
        nodes,
        "rtmpose_stand_in",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 256, 256])],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, K, BINS])
            for name in ("simcc_x", "simcc_y")
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def _one_hot(bins: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    vectors = RNG.uniform(0.0, 0.4, (1, K, BINS)).astype(np.float32)
    vectors[0, np.arange(K), bins] = peaks
    return vectors


@pytest.fixture(scope="module")
def constant_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Batch fixed at 1; outputs peaked at ``BINS_X``/``BINS_Y`` whatever the input (the input
    enters times zero, so the graph still consumes it)."""
    return _save(
        tmp_path_factory.mktemp("rtmpose") / "constant.onnx",
        [
            helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
            helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
            helper.make_node("Add", ["peaks_x", "nothing"], ["simcc_x"]),
            helper.make_node("Add", ["peaks_y", "nothing"], ["simcc_y"]),
        ],
        [
            numpy_helper.from_array(np.float32(0.0), "zero"),
            numpy_helper.from_array(_one_hot(BINS_X, PEAK_X), "peaks_x"),
            numpy_helper.from_array(_one_hot(BINS_Y, PEAK_Y), "peaks_y"),
        ],
        batch=1,
    )


@pytest.fixture(scope="module")
def marker_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dynamic batch; every keypoint points at the crop's maximum of ``R - G - B`` (of the
    normalised input), each crop pixel filling two bins, so a pure red patch is found."""
    nodes = [helper.make_node("Conv", ["input", "r_minus_g_b"], ["redness"])]
    for name, axis in (("simcc_x", 2), ("simcc_y", 3)):  # max over rows gives the x profile
        nodes += [
            helper.make_node("ReduceMax", ["redness"], [f"{name}_profile"], axes=[axis], keepdims=0),
            helper.make_node("Unsqueeze", [f"{name}_profile", "last_axis"], [f"{name}_column"]),
            helper.make_node("Expand", [f"{name}_column", "every_keypoint_two_bins"], [f"{name}_pairs"]),
            helper.make_node("Reshape", [f"{name}_pairs", "output_shape"], [name]),
        ]
    return _save(
        tmp_path_factory.mktemp("rtmpose") / "marker.onnx",
        nodes,
        [
            numpy_helper.from_array(np.array([1, -1, -1], np.float32).reshape(1, 3, 1, 1), "r_minus_g_b"),
            numpy_helper.from_array(np.array([3], np.int64), "last_axis"),
            numpy_helper.from_array(np.array([1, K, 256, 2], np.int64), "every_keypoint_two_bins"),
            numpy_helper.from_array(np.array([0, K, BINS], np.int64), "output_shape"),
        ],
        batch="batch",
    )


@pytest.fixture(scope="module")
def detector(constant_model: Path) -> RTMPoseDetector:
    made = create_detector("rtmpose", RUNTIME, path=str(constant_model), box_detector="yunet")
    assert isinstance(made, RTMPoseDetector)
    return made


def _expected_in_image(box: np.ndarray, bins_x: np.ndarray, bins_y: np.ndarray) -> np.ndarray:
    """Crop bins to image pixels: the square crop is the box's longer side x 1.25 about its
    centre, 256 px wide; bin b is crop pixel b / 2."""
    x1, y1, x2, y2 = box.astype(np.float64)
    side = 1.25 * max(x2 - x1, y2 - y1)
    crop = np.stack([bins_x, bins_y], axis=-1) / 2.0
    return crop * side / 256 + np.array([(x1 + x2) / 2, (y1 + y2) / 2]) - side / 2


def test_decodes_the_encoded_keypoints_through_the_crop(
    detector: RTMPoseDetector, lfw_images: list[np.ndarray]
) -> None:
    boxes = create_detector("yunet", RUNTIME).detect(lfw_images)
    for image, faces, expected_faces in zip(lfw_images, detector.detect(lfw_images), boxes, strict=True):
        assert len(faces) == len(expected_faces) >= 1
        for face, box_face in zip(faces, expected_faces, strict=True):
            np.testing.assert_array_equal(face.box, box_face.box)
            assert face.score == box_face.score
            expected = _expected_in_image(box_face.box, BINS_X, BINS_Y)
            assert face.landmark_names == FIVE_POINTS
            np.testing.assert_allclose(face.landmarks, expected[list(FIVE_POINT_INDICES)], atol=0.01)
            ((points, scores),) = detector.estimate([image], [box_face.box[None]])
            np.testing.assert_allclose(points[0], expected, atol=0.01)
            np.testing.assert_allclose(scores[0], np.minimum(PEAK_X, PEAK_Y), rtol=1e-6)


def test_the_five_points_are_the_documented_indices() -> None:
    # Pupils, nose tip, outer mouth corners of the LaPa layout, image-left member first.
    assert FIVE_POINT_INDICES == (104, 105, 54, 84, 90)


def test_plausible_faces_on_lfw(detector: RTMPoseDetector, lfw_images: list[np.ndarray]) -> None:
    for image, faces in zip(lfw_images, detector.detect(lfw_images), strict=True):
        assert faces == sorted(faces, key=lambda face: -face.score)
        assert_plausible_face(select_face(faces, image.shape), image.shape)


def test_alignment_lands_on_the_template(detector: RTMPoseDetector, lfw_images: list[np.ndarray]) -> None:
    for image in lfw_images:
        face = select_face(detector.detect([image])[0], image.shape)
        assert face is not None and face.landmarks is not None
        matrix = similarity_to_template(face.landmarks, face.landmark_names)
        aligned = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
        # The crop is a uniform scale and shift, so the template layout survives it exactly
        # (up to the half-bin rounding of the encoded positions).
        np.testing.assert_allclose(aligned, template_points(FIVE_POINTS), atol=0.5)


def test_multi_face_image(
    detector: RTMPoseDetector, multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]]
) -> None:
    image, (x1, y1, x2, y2) = multi_face_image
    faces = detector.detect([image])[0]
    assert len(faces) == 5
    chosen = select_face(faces, image.shape)
    assert chosen is not None
    assert x1 <= chosen.box[0] < chosen.box[2] <= x2 and y1 <= chosen.box[1] < chosen.box[3] <= y2
    assert_plausible_face(chosen, image.shape)


def test_no_face(detector: RTMPoseDetector) -> None:
    grey = np.full((250, 250, 3), 128, dtype=np.uint8)
    assert detector.detect([grey]) == [[]]
    assert detector.detect([]) == []


def _with_red_marker(image: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """``image`` with a 7x7 pure red square whose top-left pixel is ``(x0, y0)``."""
    redness = ((image - MEAN) / STD) @ np.array([1.0, -1.0, -1.0])
    assert redness.max() < 4.0, "the image already holds near pure red"
    marked = image.copy()
    marked[y0 : y0 + 7, x0 : x0 + 7] = (255, 0, 0)
    return marked


def test_the_crop_shows_the_box_region_in_rgb_normalised(
    marker_model: Path, lfw_images: list[np.ndarray]
) -> None:
    """The crop really samples the image where the inverse mapping says, in RGB order, with the
    training mean/std: the marker's first pure column/row comes back at its pixel edge."""
    rtmpose = RTMPoseDetector(RTMPoseOptions(path=str(marker_model)), RUNTIME)
    for image, (dx, dy) in zip(lfw_images[:3], ((-20, -15), (10, 5), (0, 25)), strict=True):
        box = create_detector("yunet", RUNTIME).detect([image])[0][0].box
        x0, y0 = int((box[0] + box[2]) / 2) + dx, int((box[1] + box[3]) / 2) + dy
        marked = _with_red_marker(image, x0, y0)
        face = select_face(rtmpose.detect([marked])[0], marked.shape)
        assert face is not None
        # The first crop pixel (argmax takes the first of equal maxima) whose sample falls on
        # the marker lies at most one crop pixel past the centre of its first image pixel,
        # x0 + 0.5 in pixel-edge coordinates (cv2 samples at 1/32 px, hence the 0.05 slack).
        crop_pixel = 1.25 * max(box[2] - box[0], box[3] - box[1]) / 256
        offset = face.landmarks - np.array([x0 + 0.5, y0 + 0.5])
        assert np.all(offset > -0.05) and np.all(offset < crop_pixel + 0.05), (offset, crop_pixel)
        ((_, scores),) = rtmpose.estimate([marked], [face.box[None]])
        pure_red = ((np.array([255.0, 0.0, 0.0]) - MEAN) / STD) @ np.array([1.0, -1.0, -1.0])
        np.testing.assert_allclose(scores, pure_red, rtol=1e-5)


def test_batch_matches_single_images(
    marker_model: Path,
    constant_model: Path,
    lfw_images: list[np.ndarray],
    multi_face_image: tuple[np.ndarray, tuple[float, float, float, float]],
) -> None:
    """Crops of several images in one pass (dynamic batch) or one by one (batch fixed at 1)
    give each face its own result."""
    images = [_with_red_marker(lfw_images[0], 110, 140), multi_face_image[0], lfw_images[1]]
    for model in (marker_model, constant_model):
        rtmpose = create_detector("rtmpose", RUNTIME, path=str(model))
        together = rtmpose.detect(images)
        for image, expected in zip(images, together, strict=True):
            alone = rtmpose.detect([image])[0]
            assert len(alone) == len(expected) >= 1
            for a, b in zip(alone, expected, strict=True):
                np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-4)
                np.testing.assert_allclose(a.box, b.box)


def test_describe_and_options(detector: RTMPoseDetector, constant_model: Path) -> None:
    info = detector.describe()
    assert info["detector"] == "rtmpose" and info["detector_provider"] == "CPUExecutionProvider"
    assert info["box_detector"] == "yunet" and info["box_detector_weights"].endswith(".onnx")
    with pytest.raises(ConfigValueError, match=r"detector\.options\.box_detector must be another detector"):
        RTMPoseOptions(box_detector="rtmpose")
    with pytest.raises(ConfigValueError, match=r"detector\.options\.box_padding must be positive, got 0\.0"):
        create_detector("rtmpose", RUNTIME, path=str(constant_model), box_padding=0.0)


def test_box_detector_options_are_bound_as_its_own(constant_model: Path) -> None:
    """The box detector gets its options (checked by its own schema before any model loads)
    and the same runtime."""
    made = create_detector(
        "rtmpose",
        RUNTIME,
        path=str(constant_model),
        box_detector="retinaface",
        box_detector_options={"score_threshold": 0.8, "input_size": 320},
    )
    assert isinstance(made, RTMPoseDetector)
    box = made.box_detector
    assert box.name == "retinaface" and made.describe()["box_detector"] == "retinaface"
    assert (box.score_threshold, box.input_size) == (0.8, 320)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"detector 'yunet' has no option 'score_treshold'"):
        create_detector(
            "rtmpose", RUNTIME, path="/nonexistent.onnx", box_detector_options={"score_treshold": 0.5}
        )


def _real_weights() -> Path | None:
    try:
        return resolve("rtmpose_m_face6", download=False)
    except AssetError:
        return None


@pytest.mark.skipif(_real_weights() is not None, reason="the real weights are present")
def test_missing_weights_say_what_and_where() -> None:
    with pytest.raises(AssetNotFoundError) as raised:
        create_detector("rtmpose", RUNTIME)
    message = str(raised.value)
    asset = ASSETS["rtmpose_m_face6"]
    assert asset.relpath in message and asset.url is not None and asset.url in message
    assert "end2end.onnx" in message and "BENCH_OFFLINE" in message


@pytest.mark.skipif(_real_weights() is None, reason="RTMPose face6 weights not available here")
def test_real_weights_on_lfw(lfw_images: list[np.ndarray]) -> None:
    rtmpose = create_detector("rtmpose", RUNTIME)
    for image, faces in zip(lfw_images, rtmpose.detect(lfw_images), strict=True):
        face = select_face(faces, image.shape)
        assert_plausible_face(face, image.shape)
        assert isinstance(face, Face) and face.landmarks is not None
        matrix = similarity_to_template(face.landmarks, face.landmark_names)
        aligned = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
        assert np.abs(aligned - template_points(FIVE_POINTS)).max() < 6.0


def test_resolver_unpacks_an_sdk_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip asset (as OpenMMLab publishes the ONNX export) is unpacked from a local file:// URL;
    the only .onnx inside becomes the asset, the rest is discarded."""
    archive = tmp_path / "sdk.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("20230831/rtmpose_onnx/model/end2end.onnx", b"the graph")
        handle.writestr("20230831/rtmpose_onnx/model/pipeline.json", b"{}")
    ambiguous = tmp_path / "two.zip"
    with zipfile.ZipFile(ambiguous, "w") as handle:
        handle.writestr("a/end2end.onnx", b"one")
        handle.writestr("b/end2end.onnx", b"two")
    monkeypatch.delenv("BENCH_OFFLINE")
    monkeypatch.setattr(resolver_module, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setitem(ASSETS, "zipped", Asset("zipped", "weights/test/model.onnx", url=archive.as_uri()))
    monkeypatch.setitem(
        ASSETS, "ambiguous", Asset("ambiguous", "weights/other/model.onnx", url=ambiguous.as_uri())
    )

    path = resolve("zipped")
    assert path == (tmp_path / "cache" / "weights" / "test" / "model.onnx").resolve()
    assert path.read_bytes() == b"the graph"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]
    with pytest.raises(AssetNotFoundError, match=r"holds no model\.onnx nor one \.onnx file"):
        resolve("ambiguous")
