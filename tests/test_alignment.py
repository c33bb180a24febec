"""The shared aligner: landmarks land on the ArcFace template."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.alignment import ALIGNED_SIZE, align_face, box_to_square, similarity_to_template, template_points
from bench.detectors import FIVE_POINTS, Face


def similarity(points: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T * scale + np.array(shift)


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(
    ("angle", "scale", "shift"), [(0.0, 1.0, (0, 0)), (0.4, 2.3, (40, 17)), (-0.9, 0.6, (5, 90))]
)
def test_five_points_land_on_the_template(angle: float, scale: float, shift: tuple[float, float]) -> None:
    template = template_points(FIVE_POINTS)
    landmarks = similarity(template, angle, scale, shift)
    assert np.abs(apply(similarity_to_template(landmarks, FIVE_POINTS), landmarks) - template).max() < 1.0


def test_noisy_points_land_within_a_pixel() -> None:
    rng = np.random.default_rng(0)
    template = template_points(FIVE_POINTS)
    landmarks = similarity(template, 0.2, 2.0, (30, 30)) + rng.normal(0, 0.3, (5, 2))
    error = apply(similarity_to_template(landmarks, FIVE_POINTS), landmarks) - template
    assert np.linalg.norm(error, axis=1).max() < 1.0


def test_a_named_subset_of_points_aligns() -> None:
    names = ("left_eye", "right_eye", "nose", "mouth_center")
    template = template_points(names)
    landmarks = similarity(template, -0.3, 1.7, (12, 50))
    assert np.abs(apply(similarity_to_template(landmarks, names), landmarks) - template).max() < 1e-6
    assert template[3] == pytest.approx(
        (template_points(FIVE_POINTS)[3] + template_points(FIVE_POINTS)[4]) / 2
    )


def test_warp_moves_image_content_to_the_template() -> None:
    """Dots drawn at the landmarks of a real-sized image appear within 1 px of the template."""
    template = template_points(FIVE_POINTS)
    landmarks = similarity(template, 0.25, 1.8, (30, 20))
    image = np.zeros((250, 250, 3), dtype=np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (round(x * 16), round(y * 16)), 3 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    aligned = align_face(image, Face(box=[0, 0, 250, 250], score=1.0, landmarks=landmarks))
    assert aligned.shape == (ALIGNED_SIZE, ALIGNED_SIZE, 3)
    grey = aligned[..., 0].astype(np.float64)
    for x, y in template:
        top, left = round(y) - 4, round(x) - 4
        window = grey[top : top + 9, left : left + 9]
        rows, cols = np.mgrid[top : top + 9, left : left + 9]
        centroid = np.array([(cols * window).sum(), (rows * window).sum()]) / window.sum()
        assert np.linalg.norm(centroid - (x, y)) < 1.0


def test_faces_without_landmarks_are_cropped_square() -> None:
    matrix = box_to_square(np.array([50, 30, 150, 230]))  # 100x200 box -> 200x200 square
    corners = apply(matrix, np.array([[0.0, 30.0], [200.0, 230.0]]))
    assert corners == pytest.approx(np.array([[0, 0], [112, 112]]))


def test_too_few_points_or_unknown_names_are_errors() -> None:
    with pytest.raises(ValueError, match="at least 2 points"):
        similarity_to_template(np.zeros((1, 2)), ("nose",))
    with pytest.raises(KeyError, match="has no point"):
        template_points(("chin",))


@pytest.mark.parametrize("mirrored", [False, True])
def test_the_closed_form_equals_scikit_image_umeyama(mirrored: bool) -> None:
    """The reference estimate, on noisy points and on a mirror image, where Umeyama's
    reflection handling would show if the closed form ignored it."""
    from skimage.transform import SimilarityTransform

    rng = np.random.default_rng(1)
    template = template_points(FIVE_POINTS)
    landmarks = similarity(template, 0.3, 1.9, (20, 35)) + rng.normal(0, 1.5, (5, 2))
    if mirrored:
        landmarks[:, 0] *= -1
    reference = SimilarityTransform.from_estimate(landmarks, template).params[:2]
    assert similarity_to_template(landmarks, FIVE_POINTS) == pytest.approx(reference, abs=1e-9)


def test_coincident_landmarks_are_an_error() -> None:
    with pytest.raises(ValueError, match="degenerate landmarks"):
        similarity_to_template(np.full((5, 2), 7.0), FIVE_POINTS)
