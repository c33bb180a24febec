"""Head pose from a face's landmarks, with no model: roll from the eye line, yaw from where the
nose tip sits beside the face's symmetry axis.

Roll is the angle of the line from ``left_eye`` to ``right_eye`` against the image's x axis,
positive when the right eye (the image's) sits lower: a clockwise tilt as the image shows it.

Yaw assumes weak perspective (a face is small beside its distance from the camera). Rotate the
image by -roll about the eye midpoint E so that the eyes are level. The face's symmetry axis
then shows as the line from E to the mouth midpoint M. Turning the head by yaw θ moves a point
at depth z in front of the eyes sideways by ``z sin θ`` and shrinks the seen inter-ocular
distance to ``IOD cos θ``. The nose tip N's horizontal offset from the axis line at N's height,
over the seen inter-ocular distance, is therefore ``k tan θ``, so ``θ = atan(offset / iod / k)``.
Here ``k`` is the nose's depth in front of the axis line over the true inter-ocular distance,
taken from the reference 3D face ``CANONICAL_FACE_CM``:
``k = ((z_N - z_E) - t (z_M - z_E)) / IOD`` with ``t = (y_N - y_E) / (y_M - y_E)``. That is
0.58 with the mouth corners and 0.51 with the mouth centre, which sits further forward on the
lips. Positive yaw turns the nose toward the image's right.

The offset is measured from the eye-mouth line rather than from E because pitch then changes
it only to second order. Up to 20 degrees of pitch moves the yaw by under 3 degrees; measured
from E alone it would move it by 11. Under full perspective the near side of the face looms
larger, so the estimate runs high, by up to 3 degrees with the camera 1 m away and 6 degrees
at 50 cm. It stays monotone in the true yaw, which is what discarding by it needs.

``cv2.solvePnP`` against the same 3D points is not used: five points (four of them nearly
coplanar) and an unknown focal length leave PnP with an assumed camera and its two-fold planar
ambiguity. The closed form is exact under weak perspective and monotone in the nose's offset.

A face without the points a value needs gets NaN: roll and the inter-ocular distance need the
two eyes; yaw needs the nose tip (``nose``, not dlib's ``nose_base``) and a mouth midpoint (both
corners, or BlazeFace's ``mouth_center``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bench.detectors.base import Face

#: The reference 3D face in cm (x toward the image's right, y down, z toward the camera). The
#: points come from MediaPipe's canonical face model
#: (``mediapipe/modules/face_geometry/data/canonical_face_model.obj``, Apache-2.0; its y axis
#: points up and is flipped here), at the mesh indices that ``bench.detectors.mediapipe_mesh``
#: takes its five points from. Each eye is the mean of its 16 contour vertices, the nose is
#: vertex 4 and the mouth corners are 61 and 291. The mouth centre (BlazeFace's point) is the
#: mean of the inner lip vertices 13 and 14.
CANONICAL_FACE_CM: Mapping[str, tuple[float, float, float]] = {
    "left_eye": (-3.160085, -2.643118, 3.626074),
    "right_eye": (3.160085, -2.643118, 3.626074),
    "nose": (0.0, 0.46317, 7.58658),
    "left_mouth": (-2.456206, 4.342621, 4.283884),
    "right_mouth": (2.456206, 4.342621, 4.283884),
    "mouth_center": (0.0, 4.268418, 5.312118),
}


def _reference(name: str) -> np.ndarray:
    return np.array(CANONICAL_FACE_CM[name])


def _nose_depth_ratio(mouth: np.ndarray) -> float:
    """``k`` of the module docstring for a mouth midpoint at ``mouth`` on the reference face."""
    left, right, nose = _reference("left_eye"), _reference("right_eye"), _reference("nose")
    eyes = (left + right) / 2
    t = (nose[1] - eyes[1]) / (mouth[1] - eyes[1])
    depth = (nose[2] - eyes[2]) - t * (mouth[2] - eyes[2])
    return float(depth / np.linalg.norm(right - left))


#: ``k`` when the mouth midpoint is that of the corners, and when it is BlazeFace's mouth centre.
NOSE_DEPTH_RATIO_CORNERS = _nose_depth_ratio((_reference("left_mouth") + _reference("right_mouth")) / 2)
NOSE_DEPTH_RATIO_CENTER = _nose_depth_ratio(_reference("mouth_center"))


def landmark(face: Face, name: str) -> np.ndarray | None:
    """The ``(x, y)`` of the face's point ``name`` as float64, or ``None`` when it lacks that point."""
    if face.landmarks is None or name not in face.landmark_names:
        return None
    return face.landmarks[face.landmark_names.index(name)].astype(np.float64)


def _eyes(face: Face) -> tuple[np.ndarray, np.ndarray] | None:
    left, right = landmark(face, "left_eye"), landmark(face, "right_eye")
    return None if left is None or right is None else (left, right)


def inter_ocular_distance(face: Face) -> float:
    """The distance between the two eye points in pixels; NaN without both eyes."""
    eyes = _eyes(face)
    return math.nan if eyes is None else float(np.linalg.norm(eyes[1] - eyes[0]))


def roll_degrees(face: Face) -> float:
    """The eye line's angle in degrees, in (-180, 180]; NaN without both eyes or when they coincide."""
    eyes = _eyes(face)
    if eyes is None or not inter_ocular_distance(face) > 0:
        return math.nan
    dx, dy = eyes[1] - eyes[0]
    return math.degrees(math.atan2(dy, dx))


def _mouth_midpoint(face: Face) -> tuple[np.ndarray, float] | None:
    """The mouth midpoint and the ``k`` that goes with it: from the corners when the face has both,
    else from its mouth centre."""
    left, right = landmark(face, "left_mouth"), landmark(face, "right_mouth")
    if left is not None and right is not None:
        return (left + right) / 2, NOSE_DEPTH_RATIO_CORNERS
    center = landmark(face, "mouth_center")
    return None if center is None else (center, NOSE_DEPTH_RATIO_CENTER)


def yaw_degrees(face: Face) -> float:
    """The head's yaw in degrees, in (-90, 90), positive with the nose toward the image's right;
    NaN without the points it needs, or when the mouth is not below the eyes."""
    eyes, nose, mouth = _eyes(face), landmark(face, "nose"), _mouth_midpoint(face)
    iod = inter_ocular_distance(face)
    if eyes is None or nose is None or mouth is None or not iod > 0:
        return math.nan
    mouth_point, depth_ratio = mouth
    center = (eyes[0] + eyes[1]) / 2
    across = (eyes[1] - eyes[0]) / iod  # the eye line's direction; "down" is it turned by +90 degrees
    down = np.array([-across[1], across[0]])
    nose_across, nose_down = float((nose - center) @ across), float((nose - center) @ down)
    mouth_across, mouth_down = float((mouth_point - center) @ across), float((mouth_point - center) @ down)
    if not mouth_down > 0:
        return math.nan
    offset = nose_across - mouth_across * nose_down / mouth_down
    return math.degrees(math.atan(offset / iod / depth_ratio))
