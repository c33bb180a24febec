"""MTCNN in PyTorch: real weights on real LFW faces, odd inputs, its options (CPU only). What
every detector promises (plausible faces in the documented order, batch equal to singles,
determinism, no face on a blank image, ``describe``) is in ``test_detector_contract.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.assets import AssetError, resolve
from bench.config import ConfigValueError
from bench.detectors.base import Face
from bench.detectors.mtcnn.detector import MTCNNDetector, _area_crops, _min_nms, _summed_area
from bench.detectors.mtcnn.nets import CeilMaxPool2d
from bench.detectors.mtcnn.options import MTCNNOptions
from bench.detectors.registry import create_detector
from bench.runtime import Runtime

RUNTIME = Runtime.local("cpu", threads=1)

NAMES = (
    "Aaron_Peirsol_0001",
    "George_W_Bush_0001",
    "Serena_Williams_0001",
    "Colin_Powell_0001",
    "Tony_Blair_0001",
    "Jennifer_Aniston_0001",
    "Gloria_Macapagal_Arroyo_0001",
    "Hugo_Chavez_0001",
)


def _resolve_or_skip(name: str) -> Path:
    try:
        return resolve(name, download=False)
    except AssetError as error:
        pytest.skip(f"asset {name} is not available locally: {error}")


def _load_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    for net in ("pnet", "rnet", "onet"):
        _resolve_or_skip(f"mtcnn_{net}")
    return MTCNNDetector(MTCNNOptions(), RUNTIME)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    root = _resolve_or_skip("lfw_deepfunneled")
    paths = [root / name.rsplit("_", 1)[0] / f"{name}.jpg" for name in NAMES]
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, f"LFW images missing: {missing}"
    return [_load_rgb(path) for path in paths]


@pytest.fixture(scope="module")
def batch_faces(detector: MTCNNDetector, images: list[np.ndarray]) -> list[list[Face]]:
    return detector.detect(images)


def _central(faces: list[Face], width: int, height: int) -> Face:
    centre = np.array([width / 2, height / 2])
    return min(faces, key=lambda f: float(np.linalg.norm(f.box.reshape(2, 2).mean(0) - centre)))


def test_a_resized_image_moves_the_face_with_it(
    detector: MTCNNDetector, images: list[np.ndarray], batch_faces: list[list[Face]]
) -> None:
    """Another size gives another pyramid: the face is found where the resize puts it."""
    resized = cv2.resize(images[1], (320, 240), interpolation=cv2.INTER_AREA)
    face = _central(detector.detect([resized])[0], 320, 240)
    original = _central(batch_faces[1], 250, 250)
    scale = np.array([320 / 250, 240 / 250])
    expected_centre = original.box.reshape(2, 2).mean(0) * scale
    assert np.linalg.norm(face.box.reshape(2, 2).mean(0) - expected_centre) < 10
    assert np.all(face.box[2:] <= [320, 240])


def test_face_crossing_the_border(detector: MTCNNDetector, images: list[np.ndarray]) -> None:
    """Part of the face is cut off: the crops of its inside part still find it, the box is clipped."""
    cut = np.ascontiguousarray(images[1][80:, 90:])
    faces = detector.detect([cut])[0]
    assert faces
    box = faces[0].box
    assert box[0] == 0.0 and box[1] == 0.0
    assert box[2] <= cut.shape[1] and box[3] <= cut.shape[0]


@pytest.mark.parametrize("size", [24, 48])
def test_area_crops_are_the_reference_resize(size: int) -> None:
    """Summed-area crops equal ``F.interpolate(mode="area")`` of each window (the reference's
    ``imresample``), for windows smaller and larger than the output, up to the image edges."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 37, 53, 3), dtype=torch.uint8, generator=generator)
    count = 300
    image_ids = torch.randint(0, 2, (count,), generator=generator)
    corners = [
        torch.randint(0, 53, (2, count), generator=generator),
        torch.randint(0, 37, (2, count), generator=generator),
    ]
    (x0, x1), (y0, y1) = (c.sort(dim=0).values for c in corners)
    windows = torch.stack([x0, y0, x1 + 1, y1 + 1], dim=1)
    windows[:4] = torch.tensor([[0, 0, 53, 37], [52, 36, 53, 37], [0, 0, 1, 1], [10, 5, 13, 30]])

    integral = _summed_area(images.numpy())
    crops = _area_crops(integral, image_ids * 38 * 54, torch.full((count,), 54), windows, size)

    pixels = images.permute(0, 3, 1, 2).float()
    expected = torch.cat(
        [
            F.interpolate(pixels[i : i + 1, :, top:bottom, left:right], (size, size), mode="area")
            for i, (left, top, right, bottom) in zip(image_ids.tolist(), windows.tolist(), strict=True)
        ]
    )
    torch.testing.assert_close(crops, expected, atol=1e-4, rtol=0)


def test_summed_area_stays_exact_beyond_int32() -> None:
    """Past 2**31 / 255 pixels the sums no longer fit int32: they come out int64 and exact."""
    side = 3000
    table = _summed_area(np.full((1, side, side, 3), 255, dtype=np.uint8))
    assert table.dtype == torch.int64
    assert table[-1].tolist() == [255 * side * side] * 3


@pytest.mark.parametrize(
    ("shape", "kernel", "stride"),
    [((2, 10, 149, 149), 2, 2), ((3, 28, 22, 22), 3, 2), ((3, 64, 10, 10), 2, 2), ((2, 48, 9, 8), 3, 2)],
)
def test_ceil_max_pool_is_torchs(shape: tuple[int, ...], kernel: int, stride: int) -> None:
    """The CPU pooling of the nets gives exactly ``nn.MaxPool2d(ceil_mode=True)``, odd sizes included."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).contiguous(
        memory_format=torch.channels_last
    )
    expected = nn.MaxPool2d(kernel, stride, ceil_mode=True)(x)
    assert torch.equal(CeilMaxPool2d(kernel, stride)(x), expected)


def test_min_nms_drops_a_box_inside_a_better_one_per_image() -> None:
    """The last NMS measures intersection over the smaller box (inclusive pixels) and never
    lets one image's boxes suppress another's."""
    boxes = torch.tensor(
        [
            [10.0, 10.0, 109.0, 109.0],  # image 0, best
            [30.0, 30.0, 59.0, 59.0],  # inside it: IoU 0.09 but "Min" overlap 1: dropped
            [100.0, 100.0, 149.0, 149.0],  # overlaps the best by 10x10 of its 50x50: 0.04, kept
            [30.0, 30.0, 59.0, 59.0],  # the same box in image 1: kept
        ]
    )
    scores = torch.tensor([0.99, 0.98, 0.97, 0.5])
    keep = _min_nms(boxes, scores, torch.tensor([0, 0, 0, 1]), 0.7)
    assert sorted(keep.tolist()) == [0, 2, 3]


def test_no_face_in_noise_nor_below_the_smallest_window(detector: MTCNNDetector) -> None:
    noise = np.random.default_rng(0).integers(0, 256, size=(180, 240, 3), dtype=np.uint8)
    tiny = np.zeros((8, 8, 3), dtype=np.uint8)  # smaller than P-Net's 12 px window: no pyramid at all
    assert detector.detect([noise, tiny]) == [[], []]
    assert detector.detect([tiny]) == [[]]


def test_registry_options_and_describe(detector: MTCNNDetector) -> None:
    made = create_detector("mtcnn", RUNTIME, min_face_size=40, score_threshold=[0.5, 0.6, 0.8])
    assert isinstance(made, MTCNNDetector) and made.name == "mtcnn"
    assert made.min_face_size == 40 and made.thresholds == (0.5, 0.6, 0.8)
    info = detector.describe()
    assert info["detector_backend"] == "torch"
    assert info["detector_weights"].split(",") == [
        str(detector.weight_paths[net]) for net in ("pnet", "rnet", "onet")
    ]


def test_weights_folder(detector: MTCNNDetector, tmp_path: Path) -> None:
    """``path`` is a folder holding pnet.pt, rnet.pt and onet.pt, used as given."""
    with pytest.raises(AssetError, match=r"pnet\.pt does not exist"):
        MTCNNDetector(MTCNNOptions(path=str(tmp_path)), RUNTIME)
    for net, weights in detector.weight_paths.items():
        shutil.copyfile(weights, tmp_path / f"{net}.pt")
    explicit = MTCNNDetector(MTCNNOptions(path=str(tmp_path)), RUNTIME)
    assert explicit.weight_paths == {
        net: tmp_path.resolve() / f"{net}.pt" for net in ("pnet", "rnet", "onet")
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"score_threshold": [0.6, 0.7]}, r"detector\.options\.score_threshold needs one value per net"),
        (
            {"nms_threshold": [0.7, 0.7, 0.7, 0.7]},
            r"detector\.options\.nms_threshold needs one value per net",
        ),
        ({"scale_factor": 1.0}, r"detector\.options\.scale_factor must lie in \(0, 1\), got 1\.0"),
        ({"min_face_size": 0}, r"detector\.options\.min_face_size must be >= 1, got 0"),
    ],
)
def test_out_of_range_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigValueError, match=message):
        create_detector("mtcnn", RUNTIME, **options)
