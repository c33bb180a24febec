"""Alignment templates and what a model config says of them: ``native``, a name, or points in
YAML; the similarity a family compares by; and the model=onnx family fed its own input."""

from __future__ import annotations

import numpy as np
import pytest

from bench.alignment import ARCFACE_112, DLIB_CHIP_150, TEMPLATES, Template, align_face, template_named
from bench.alignment.similarity import apply_similarity, fit_similarity
from bench.config import ConfigValueError
from bench.detectors import Face
from bench.models import model_config, model_family
from bench.models.registry import alignment_template
from bench.models.similarity import SIMILARITIES
from bench.pipeline.cache_keys import embedding_key
from bench.runtime import Runtime
from tests.conftest import bench_config


def test_every_template_names_the_same_points_and_the_built_ins_are_registered() -> None:
    assert {"arcface_112", "dlib_chip_150"} <= set(TEMPLATES.names())
    assert set(ARCFACE_112.points) == set(DLIB_CHIP_150.points)
    assert template_named("dlib_chip_150").size == 150


def test_dlib_chip_is_dlibs_mean_face_with_its_padding() -> None:
    """dlib's chip maps its mean face x in [0, 1] to (x + padding) / (1 + 2 padding) * size - 1/2: the
    nose base (its 5-point constant) and the eye centres (means of its corner constants)."""
    assert DLIB_CHIP_150.points["nose_base"] == pytest.approx(
        ((0.49011 + 0.25) * 100 - 0.5, (0.62780 + 0.25) * 100 - 0.5), abs=1e-2
    )
    left, right = DLIB_CHIP_150.points["left_eye"], DLIB_CHIP_150.points["right_eye"]
    assert left[0] < 75 < right[0]
    assert left[1] == pytest.approx(right[1], abs=0.1)


def test_derived_points_sit_where_faces_have_them() -> None:
    """ArcFace's nose base (mapped from dlib's mean face) lies below the nose tip and above the
    mouth, on the face's midline; the mouth centre is the corners' midpoint."""
    points = ARCFACE_112.points
    assert points["nose"][1] < points["nose_base"][1] < points["mouth_center"][1]
    assert abs(points["nose_base"][0] - 56) < 1.5
    assert points["mouth_center"] == pytest.approx(
        np.mean([points["left_mouth"], points["right_mouth"]], axis=0)
    )


def test_a_face_aligned_to_a_template_lands_on_its_points() -> None:
    """Landmarks made from the dlib chip's points by a known similarity come back onto them, at
    the template's own size and scaled to another."""
    names = ("left_eye", "right_eye", "nose_base")
    truth = fit_similarity(DLIB_CHIP_150.points_for(names), DLIB_CHIP_150.points_for(names) * 1.7 + 20)
    landmarks = apply_similarity(truth, DLIB_CHIP_150.points_for(names))
    face = Face(box=[0, 0, 400, 400], score=1.0, landmarks=landmarks, landmark_names=names)
    image = np.zeros((400, 400, 3), dtype=np.uint8)
    for x, y in landmarks.astype(int):
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    for size in (150, 112):
        crop = align_face(image, face, size, DLIB_CHIP_150)
        bright = np.argwhere(crop.max(axis=2) > 100)[:, ::-1]
        for point in DLIB_CHIP_150.points_for(names, size):
            assert np.linalg.norm(bright - point, axis=1).min() < 1.5


def test_model_template_is_native_a_name_or_points() -> None:
    assert alignment_template(model_config({"name": "edgeface_xs_gamma_06"})) is ARCFACE_112
    named = model_config({"name": "edgeface_xs_gamma_06", "template": "dlib_chip_150"})
    assert alignment_template(named) is DLIB_CHIP_150
    config = bench_config("model.template={size:100,points:{left_eye:[30,40],right_eye:[70,40]}}")
    given = alignment_template(config.model)
    assert (given.size, dict(given.points)) == (100, {"left_eye": (30.0, 40.0), "right_eye": (70.0, 40.0)})


def test_bad_templates_are_refused_with_what_to_give() -> None:
    with pytest.raises(ConfigValueError, match=r"model\.template"):
        bench_config("model.template={size:100}")
    with pytest.raises(KeyError, match="arcface_96"):
        alignment_template(model_config({"name": "edgeface_xs_gamma_06", "template": "arcface_96"}))
    with pytest.raises(ValueError, match="unknown points"):
        Template("odd", 100, {"left_eye": (1.0, 2.0), "chin": (3.0, 4.0)})
    with pytest.raises(ValueError, match=r"\[x, y\]"):
        alignment_template(
            bench_config("model.template={size:100,points:{left_eye:[1],right_eye:[2,3]}}").model
        )


def test_the_cache_keys_embeddings_by_the_templates_points_not_its_name() -> None:
    runtime = Runtime.local()
    native = embedding_key(bench_config(), runtime)
    assert embedding_key(bench_config("model.template=arcface_112"), runtime) == native
    assert embedding_key(bench_config("model.template=dlib_chip_150"), runtime) != native


def test_similarities_score_higher_for_closer_embeddings() -> None:
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[1.0, 0.0], [1.0, 0.0]])
    for similarity in SIMILARITIES.values():
        near, far = similarity.rows(a, b)
        assert near > far
    assert SIMILARITIES["euclidean"].rows(a, b)[1] == pytest.approx(-np.sqrt(2))


def test_the_onnx_family_takes_its_input_from_the_config() -> None:
    config = bench_config(
        "model=onnx",
        "model.path=graph.onnx",
        "model.input.size=128",
        "model.input.mean=0",
        "model.input.std=1",
        "model.embedding_dim=128",
        "model.similarity=euclidean",
    )
    family = model_family(config.model)
    assert (family.name, family.input.size, family.input.mean, family.input.std) == ("onnx", 128, 0.0, 1.0)
    assert (family.embedding_dim, family.similarity, family.template) == (128, "euclidean", "arcface_112")
    assert not family.exportable
