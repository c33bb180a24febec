"""The model-free quality signals (``bench.quality``): pose from constructed landmarks with a known
yaw and roll, then from YuNet's landmarks on real LFW faces; sharpness on a real crop blurred
step by step; the signal table and its "higher is better" turn."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from bench.alignment.template import ARCFACE_112
from bench.alignment.warp import align_face
from bench.detectors import FIVE_POINTS, Face, create_detector, select_face
from bench.quality import (
    CANONICAL_FACE_CM,
    SIGNALS,
    Direction,
    Source,
    face_signals,
    inter_ocular_distance,
    quality_value,
    roll_degrees,
    sharpness,
    yaw_degrees,
)
from bench.runtime import Runtime

from .conftest import LFW_SAMPLES

BLAZEFACE_POINTS = ("left_eye", "right_eye", "nose", "mouth_center")
DLIB_POINTS = ("left_eye", "right_eye", "nose_base")


def head_rotation(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Pitch about x, then yaw about y (positive: nose toward +x), then roll in the image plane
    (positive: +x turns toward +y, down), in the frame x right, y down, z toward the camera."""
    y, p, r = (math.radians(angle) for angle in (yaw, pitch, roll))
    about_y = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    about_x = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    about_z = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return about_z @ about_y @ about_x


def posed_face(
    yaw: float,
    pitch: float = 0.0,
    roll: float = 0.0,
    distance_cm: float | None = None,
    names: tuple[str, ...] = FIVE_POINTS,
) -> Face:
    """The reference 3D face turned by the angles and projected at 12 px/cm around (320, 240):
    orthographic without ``distance_cm``, else through a pinhole that far from the head."""
    points = np.array([CANONICAL_FACE_CM[name] for name in names]) @ head_rotation(yaw, pitch, roll).T
    scale = 12.0 if distance_cm is None else 12.0 * distance_cm / (distance_cm - points[:, 2:])
    landmarks = points[:, :2] * scale + (320.0, 240.0)
    return Face(box=[200, 100, 440, 380], score=0.9, landmarks=landmarks, landmark_names=names)


def mirrored(face: Face, width: float) -> Face:
    """``face`` in the image flipped left to right: x mirrored, left and right points swapped."""
    swap = {"left_eye": "right_eye", "right_eye": "left_eye", "left_mouth": "right_mouth"}
    swap["right_mouth"] = "left_mouth"
    assert face.landmarks is not None
    names = tuple(swap.get(name, name) for name in face.landmark_names)
    landmarks = face.landmarks.copy()
    landmarks[:, 0] = width - 1 - landmarks[:, 0]
    return Face(box=face.box, score=face.score, landmarks=landmarks, landmark_names=names)


# --- pose from constructed landmarks --------------------------------------------------------


@pytest.mark.parametrize("angle", [-40.0, -12.5, 0.0, 7.0, 30.0])
def test_rotating_the_frontal_template_in_plane_gives_that_roll(angle: float) -> None:
    template = ARCFACE_112.points_for(FIVE_POINTS)
    own_roll = roll_degrees(Face(box=[0, 0, 112, 112], score=1.0, landmarks=template))
    turn = math.radians(angle)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    rotated = (template - 56.0) @ rotation.T * 2.5 + (300.0, 200.0)
    face = Face(box=[0, 0, 600, 400], score=1.0, landmarks=rotated)

    assert abs(own_roll) < 0.5  # the template's eyes are level to a third of a degree
    assert roll_degrees(face) == pytest.approx(own_roll + angle, abs=1e-3)
    # Turning, scaling and moving the face in the image plane changes no yaw.
    assert yaw_degrees(face) == pytest.approx(
        yaw_degrees(Face(box=[0, 0, 1, 1], score=1.0, landmarks=template)), abs=1e-3
    )


def test_the_frontal_template_has_next_to_no_yaw() -> None:
    """ArcFace's template, a mean of real aligned faces, is frontal: an independent check of the
    reference 3D face, which only sets how far the nose sits in front of the eyes."""
    face = Face(box=[0, 0, 112, 112], score=1.0, landmarks=ARCFACE_112.points_for(FIVE_POINTS))
    assert abs(yaw_degrees(face)) < 1.0
    blazeface = ARCFACE_112.points_for(BLAZEFACE_POINTS)
    assert (
        abs(yaw_degrees(Face(box=face.box, score=1.0, landmarks=blazeface, landmark_names=BLAZEFACE_POINTS)))
        < 1.0
    )


@pytest.mark.parametrize("names", [FIVE_POINTS, BLAZEFACE_POINTS], ids=["corners", "mouth_center"])
@pytest.mark.parametrize("roll", [0.0, -25.0, 35.0])
def test_an_orthographic_projection_gives_its_yaw_and_roll_exactly(
    names: tuple[str, ...], roll: float
) -> None:
    for yaw in (-70.0, -45.0, -20.0, -5.0, 0.0, 10.0, 30.0, 60.0):
        face = posed_face(yaw, roll=roll, names=names)
        assert yaw_degrees(face) == pytest.approx(yaw, abs=1e-3)  # float32 landmarks
        assert roll_degrees(face) == pytest.approx(roll, abs=1e-3)
        assert inter_ocular_distance(face) == pytest.approx(
            12.0 * 2 * CANONICAL_FACE_CM["right_eye"][0] * math.cos(math.radians(yaw)), rel=1e-6
        )


@pytest.mark.parametrize("pitch", [-20.0, -10.0, 10.0, 20.0])
def test_pitch_barely_moves_the_yaw(pitch: float) -> None:
    """The nose's offset is measured from the eye-mouth axis, which tilts with the head; from the
    eye midpoint alone, 20 degrees of pitch would move a 45-degree yaw by 11 degrees."""
    for yaw in (-60.0, -30.0, 0.0, 15.0, 45.0):
        assert yaw_degrees(posed_face(yaw, pitch)) == pytest.approx(yaw, abs=3.0)


def test_yaw_rises_with_the_true_yaw_under_perspective() -> None:
    """A pinhole 1 m from the head (a portrait): the near side looms larger, so the estimate runs
    up to 3 degrees high, but it keeps the order that discarding by it needs."""
    true = np.arange(-75.0, 76.0, 5.0)
    for pitch, distance in ((0.0, 100.0), (15.0, 100.0), (-10.0, 60.0)):
        estimated = np.array([yaw_degrees(posed_face(yaw, pitch, distance_cm=distance)) for yaw in true])
        assert np.all(np.diff(estimated) > 0), (pitch, distance)
    at_one_metre = np.array([yaw_degrees(posed_face(yaw, distance_cm=100.0)) for yaw in true])
    assert np.all(np.abs(at_one_metre - true)[np.abs(true) <= 60] < 3.0)


def test_mirroring_the_face_negates_yaw_and_roll() -> None:
    face = posed_face(25.0, pitch=8.0, roll=12.0, distance_cm=80.0)
    flipped = mirrored(face, width=640)
    assert yaw_degrees(flipped) == pytest.approx(-yaw_degrees(face), abs=1e-4)
    assert roll_degrees(flipped) == pytest.approx(-roll_degrees(face), abs=1e-4)
    assert inter_ocular_distance(flipped) == pytest.approx(inter_ocular_distance(face), rel=1e-6)


def test_a_face_without_the_points_a_value_needs_gets_nan() -> None:
    dlib_face = Face(
        box=[0, 0, 9, 9], score=0.5, landmarks=[[2, 3], [6, 3], [4, 5]], landmark_names=DLIB_POINTS
    )
    assert math.isnan(yaw_degrees(dlib_face))  # the nose base is not the tip, and no mouth
    assert roll_degrees(dlib_face) == pytest.approx(0.0)
    assert inter_ocular_distance(dlib_face) == pytest.approx(4.0)

    box_only = Face(box=[0, 0, 9, 9], score=1.0)
    assert all(math.isnan(value(box_only)) for value in (yaw_degrees, roll_degrees, inter_ocular_distance))

    one_corner = ("left_eye", "right_eye", "nose", "left_mouth")
    no_midpoint = Face(
        box=[0, 0, 9, 9], score=1.0, landmarks=[[2, 3], [6, 3], [4, 5], [3, 7]], landmark_names=one_corner
    )
    assert math.isnan(yaw_degrees(no_midpoint))

    same_eyes = Face(box=[0, 0, 9, 9], score=1.0, landmarks=[[4, 3], [4, 3], [4, 5], [3, 7], [5, 7]])
    assert math.isnan(roll_degrees(same_eyes)) and math.isnan(yaw_degrees(same_eyes))

    mouth_above_eyes = Face(box=[0, 0, 9, 9], score=1.0, landmarks=[[2, 6], [6, 6], [4, 5], [3, 2], [5, 2]])
    assert math.isnan(yaw_degrees(mouth_above_eyes))


# --- real faces -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yunet_faces(lfw_images: list[np.ndarray]) -> dict[str, tuple[Face, Face]]:
    """YuNet's chosen face in each LFW sample and in its mirror image."""
    detector = create_detector("yunet", Runtime.local("cpu", threads=1))
    flipped = [np.ascontiguousarray(image[:, ::-1]) for image in lfw_images]
    found, found_flipped = detector.detect(lfw_images), detector.detect(flipped)
    faces = {}
    for name, image, own, mirror in zip(LFW_SAMPLES, lfw_images, found, found_flipped, strict=True):
        chosen, chosen_mirror = select_face(own, image.shape[:2]), select_face(mirror, image.shape[:2])
        assert chosen is not None and chosen_mirror is not None, name
        faces[name] = (chosen, chosen_mirror)
    return faces


def test_real_faces_get_a_plausible_pose(yunet_faces: dict[str, tuple[Face, Face]]) -> None:
    """LFW's deep-funneled faces are upright, near frontal and about 35-50 px between the eyes."""
    for name, (face, _) in yunet_faces.items():
        signals = face_signals(face, score_is_confidence=True)
        assert 25 < signals["iod_px"] < 60, name
        assert abs(signals["roll_deg"]) < 5, name
        assert abs(signals["yaw_deg"]) < 30, name
        assert 0.5 < signals["detector_score"] <= 1, name


def test_real_turned_faces_turn_the_other_way_in_the_mirror(
    yunet_faces: dict[str, tuple[Face, Face]],
) -> None:
    """Abel Pacheco looks to the image's left and Colin Powell to its right. Measured with YuNet,
    RetinaFace, MTCNN, YOLOv5-Face and both MediaPipe models, the yaw is -20 to -25 and +8 to +21
    degrees. In the mirror image the sign flips, while the size stays within YuNet's landmark noise."""
    abel, _ = yunet_faces["Abel_Pacheco/Abel_Pacheco_0001.jpg"]
    colin, _ = yunet_faces["Colin_Powell/Colin_Powell_0001.jpg"]
    assert yaw_degrees(abel) < -15 and yaw_degrees(colin) > 10
    for face, mirror in (yunet_faces[name] for name in LFW_SAMPLES):
        if abs(yaw_degrees(face)) > 15:
            assert yaw_degrees(mirror) == pytest.approx(-yaw_degrees(face), abs=5.0)


@pytest.fixture(scope="module")
def real_crop(lfw_images: list[np.ndarray], yunet_faces: dict[str, tuple[Face, Face]]) -> np.ndarray:
    face, _ = yunet_faces[LFW_SAMPLES[0]]
    return align_face(lfw_images[0], face)


def test_blur_lowers_the_sharpness_of_a_real_crop_step_by_step(real_crop: np.ndarray) -> None:
    values = [sharpness(real_crop)] + [
        sharpness(cv2.GaussianBlur(real_crop, (0, 0), sigma)) for sigma in (0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
    ]
    assert np.all(np.diff(values) < 0), values
    assert values[-1] < 0.05 * values[0]
    assert sharpness(np.full((112, 112, 3), 90, dtype=np.uint8)) == 0.0


def test_sharpness_refuses_what_is_not_an_rgb_crop(real_crop: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected HxWx3 uint8 RGB"):
        sharpness(real_crop.astype(np.float32))
    with pytest.raises(ValueError, match="expected HxWx3 uint8 RGB"):
        sharpness(real_crop[..., 0])


# --- the table ------------------------------------------------------------------------------


def test_every_signal_is_described_once() -> None:
    assert list(SIGNALS) == [signal.name for signal in SIGNALS.values()]
    for signal in SIGNALS.values():
        assert signal.unit and signal.description and "\n" not in signal.description
        assert isinstance(signal.direction, Direction) and isinstance(signal.source, Source)
    assert {
        name for name, signal in SIGNALS.items() if signal.direction is Direction.NEARER_ZERO_IS_BETTER
    } == {
        "yaw_deg",
        "roll_deg",
    }


def test_face_signals_give_every_signal_of_what_they_are_given(real_crop: np.ndarray) -> None:
    face = posed_face(20.0, roll=-5.0)
    of_face = face_signals(face, score_is_confidence=True)
    assert set(of_face) == set(SIGNALS)
    assert of_face["detector_score"] == pytest.approx(0.9)
    assert of_face["yaw_deg"] == pytest.approx(20.0, abs=1e-3)
    assert of_face["roll_deg"] == pytest.approx(-5.0, abs=1e-3)
    # What is measured at embedding time is absent until given.
    unmeasured = {name for name, signal in SIGNALS.items() if signal.source is not Source.FACE}
    assert unmeasured == {"sharpness", "embedding_norm", "mirror_agreement"}
    assert all(math.isnan(of_face[name]) for name in unmeasured)

    everything = face_signals(face, score_is_confidence=True, measured={"sharpness": sharpness(real_crop)})
    assert everything["sharpness"] == sharpness(real_crop)
    assert math.isnan(everything["mirror_agreement"])


def test_a_placeholder_score_is_no_signal() -> None:
    """A fallback crop, or a method whose every face scores 1.0, has no detector score."""
    fallback = Face(box=[62.5, 62.5, 187.5, 187.5], score=1.0)
    signals = face_signals(fallback, score_is_confidence=False)
    assert all(math.isnan(value) for value in signals.values()), signals


def test_quality_value_makes_higher_better() -> None:
    assert quality_value("iod_px", 42.0) == 42.0
    assert quality_value("yaw_deg", -30.0) == -30.0
    assert quality_value("yaw_deg", 30.0) == -30.0
    assert quality_value("roll_deg", 0.0) == 0.0
    assert math.isnan(quality_value("sharpness", math.nan))
    turned = quality_value("yaw_deg", np.array([-40.0, 5.0, np.nan, 0.0]))
    np.testing.assert_array_equal(turned, [-40.0, -5.0, np.nan, 0.0])
    np.testing.assert_array_equal(quality_value("detector_score", np.array([0.3, 0.9])), [0.3, 0.9])
    with pytest.raises(KeyError, match="unknown quality signal 'blur'; known: detector_score"):
        quality_value("blur", 1.0)
