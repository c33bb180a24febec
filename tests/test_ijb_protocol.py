"""The IJB-B / IJB-C meta files as insightface's release has them: writing and reading them back,
every error the reader gives, and a miniature built from LFW with real YuNet landmarks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bench.data.ijb import IjbFiles, IjbProtocol, check_images_exist, load_ijb, write_ijb_meta
from bench.data.pairs import ProtocolError
from bench.metrics.ijb import template_features, verification_scores

from .ijb_miniature import FIRST_MEDIA, yunet_miniature


def small_protocol(root: Path, target: str = "IJBC", identification: bool = True) -> IjbProtocol:
    """Six images in four templates: template 1 holds a two-frame video and a still; gallery 1
    has template 1 (subject 7), gallery 2 template 4 (subject 8); the probes are template 2
    (subject 7) and template 3 (subject 9, in no gallery)."""
    first, second = ("G1", "G2") if target == "IJBC" else ("S1", "S2")
    return IjbProtocol(
        root=root,
        target=target,
        image_names=("1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg", "6.jpg"),
        templates=[1, 1, 1, 2, 3, 4],
        medias=[10, 10, 11, 12, 13, 14],
        landmarks=np.arange(60, dtype=np.float32).reshape(6, 5, 2) + 0.125,
        detector_scores=[0.999, 0.5, 0.25, 1.0, 0.1234567, 0.75],
        pairs_a=[1, 1, 4, 4],
        pairs_b=[2, 3, 2, 3],
        labels=[1, 0, 0, 0],
        probe_subjects={2: 7, 3: 9} if identification else None,
        gallery_subjects={first: {1: 7}, second: {4: 8}} if identification else None,
    )


def assert_same(read: IjbProtocol, written: IjbProtocol) -> None:
    assert read.root == written.root and read.target == written.target
    assert read.image_names == written.image_names
    for name in ("templates", "medias", "landmarks", "detector_scores", "pairs_a", "pairs_b", "labels"):
        np.testing.assert_array_equal(getattr(read, name), getattr(written, name), err_msg=name)
        assert getattr(read, name).dtype == getattr(written, name).dtype, name
    assert read.probe_subjects == written.probe_subjects
    assert read.gallery_subjects == written.gallery_subjects


@pytest.mark.parametrize("target", ["IJBC", "IJBB"])
def test_meta_files_round_trip(tmp_path: Path, target: str) -> None:
    written = small_protocol(tmp_path, target)
    write_ijb_meta(written)
    assert_same(load_ijb(tmp_path, target, check_images=False), written)


def test_meta_files_have_the_release_format(tmp_path: Path) -> None:
    write_ijb_meta(small_protocol(tmp_path))
    meta = tmp_path / "meta"
    assert sorted(path.name for path in meta.iterdir()) == [
        "ijbc_1N_gallery_G1.csv",
        "ijbc_1N_gallery_G2.csv",
        "ijbc_1N_probe_mixed.csv",
        "ijbc_face_tid_mid.txt",
        "ijbc_name_5pts_score.txt",
        "ijbc_template_pair_label.txt",
    ]
    assert (meta / "ijbc_face_tid_mid.txt").read_text().splitlines()[:2] == ["1.jpg 1 10", "2.jpg 1 10"]
    assert (meta / "ijbc_name_5pts_score.txt").read_text().splitlines()[4] == (
        "5.jpg 40.125 41.125 42.125 43.125 44.125 45.125 46.125 47.125 48.125 49.125 0.1234567"
    )
    assert (meta / "ijbc_template_pair_label.txt").read_text() == "1 2 1\n1 3 0\n4 2 0\n4 3 0\n"
    # A row per image of each template: template 1 has three.
    assert (meta / "ijbc_1N_gallery_G1.csv").read_text() == (
        "TEMPLATE_ID,SUBJECT_ID,FILENAME\n1,7,1.jpg\n1,7,2.jpg\n1,7,3.jpg\n"
    )
    assert (meta / "ijbc_1N_probe_mixed.csv").read_text() == (
        "TEMPLATE_ID,SUBJECT_ID,FILENAME\n2,7,4.jpg\n3,9,5.jpg\n"
    )


def test_reads_the_release_lines_and_extra_csv_columns(tmp_path: Path) -> None:
    """Lines as the release writes them (3 decimals), the CSVs with the protocol's extra columns."""
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "ijbc_face_tid_mid.txt").write_text("1.jpg 1 69544\n2.jpg 2 69545\n")
    (meta / "ijbc_name_5pts_score.txt").write_text(
        "1.jpg 46.060 62.026 87.785 60.323 68.851 77.656 52.162 99.875 86.450 98.648 0.999\n"
        "2.jpg 46.060 62.026 87.785 60.323 68.851 77.656 52.162 99.875 86.450 98.648 0.100\n"
    )
    (meta / "ijbc_template_pair_label.txt").write_text("1 2 1\n")
    header = "TEMPLATE_ID,SUBJECT_ID,FILENAME,SIGHTING_ID,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT\n"
    (meta / "ijbc_1N_probe_mixed.csv").write_text(header + "2,5,img/7.jpg,3,10,20,30,40\n")
    (meta / "ijbc_1N_gallery_G1.csv").write_text(header + "1,5,img/6.jpg,3,10,20,30,40\n")
    (meta / "ijbc_1N_gallery_G2.csv").write_text(header + "1,5,frames/8.png,3,10,20,30,40\n")
    protocol = load_ijb(tmp_path, check_images=False)
    np.testing.assert_allclose(protocol.landmarks[0, 2], [68.851, 77.656], rtol=1e-6)
    np.testing.assert_allclose(protocol.detector_scores, [0.999, 0.1], rtol=1e-6)
    np.testing.assert_array_equal(protocol.medias, [69544, 69545])
    assert protocol.probe_subjects == {2: 5}
    assert protocol.gallery_subjects == {"G1": {1: 5}, "G2": {1: 5}}


def test_any_run_of_spaces_or_tabs_separates_fields(tmp_path: Path) -> None:
    """The fast parser takes single spaces only; the line-by-line reader takes the rest alike."""
    written = small_protocol(tmp_path)
    write_ijb_meta(written)
    files = written.files
    for path in (files.templates, files.landmarks, files.pairs):
        path.write_text(path.read_text().replace(" ", " \t "))
    assert_same(load_ijb(tmp_path, check_images=False), written)


def test_the_1n_files_are_optional(tmp_path: Path) -> None:
    write_ijb_meta(small_protocol(tmp_path, identification=False))
    protocol = load_ijb(tmp_path, check_images=False)
    assert protocol.probe_subjects is None and protocol.gallery_subjects is None


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("ijbc_face_tid_mid.txt", "image-template-media (face_tid_mid)"),
        ("ijbc_name_5pts_score.txt", "landmarks and detector scores (name_5pts_score)"),
        ("ijbc_template_pair_label.txt", "template pairs (template_pair_label)"),
        ("ijbc_1N_probe_mixed.csv", "1:N probe"),
        ("ijbc_1N_gallery_G2.csv", "1:N gallery G2"),
    ],
)
def test_a_missing_file_is_named_with_what_it_is(tmp_path: Path, name: str, what: str) -> None:
    write_ijb_meta(small_protocol(tmp_path))
    path = tmp_path / "meta" / name
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(f"{path}: the {what} file is missing")):
        load_ijb(tmp_path, check_images=False)


@pytest.mark.parametrize(
    ("name", "line", "text", "why"),
    [
        ("ijbc_face_tid_mid.txt", 3, "3.jpg 1", "expected 3 fields (image_name template_id media_id), got 2"),
        ("ijbc_face_tid_mid.txt", 3, "3.jpg one 11", "the template id must be an integer, got 'one'"),
        ("ijbc_face_tid_mid.txt", 3, "3.jpg 1 1.5", "the media id must be an integer, got '1.5'"),
        ("ijbc_face_tid_mid.txt", 3, "1.jpg 1 11", "image 1.jpg repeats line 1"),
        ("ijbc_face_tid_mid.txt", 3, "3\0.jpg 1 11", "the image name holds a NUL byte"),
        ("ijbc_face_tid_mid.txt", 3, "3.jpg 99999999999999999999 11", "the template id must be an integer"),
        ("ijbc_face_tid_mid.txt", 3, "3.jpg \u0663 11", "the template id must be an integer, got '\u0663'"),
        ("ijbc_template_pair_label.txt", 4, "4 \u0663 0", "the second template id must be an integer"),
        ("ijbc_face_tid_mid.txt", 3, " ", "blank line"),
        ("ijbc_name_5pts_score.txt", 2, "2.jpg 1 2 3 4 5 6 7 8 9 0.5", "expected 12 fields"),
        (
            "ijbc_name_5pts_score.txt",
            2,
            "2.jpg 1 2 3 4 5 6 7 8 9 nan 0.5",
            "a landmark coordinate must be a finite",
        ),
        (
            "ijbc_name_5pts_score.txt",
            2,
            "2.jpg 1 2 3 4 5 6 7 8 9 10 high",
            "the detector score must be a finite",
        ),
        ("ijbc_template_pair_label.txt", 4, "4 3 2", "the label must be 0 or 1, got '2'"),
        ("ijbc_template_pair_label.txt", 4, "4 x 0", "the second template id must be an integer, got 'x'"),
        (
            "ijbc_1N_probe_mixed.csv",
            1,
            "TEMPLATE,SUBJECT,FILENAME",
            "must start with a header TEMPLATE_ID,SUBJECT_ID",
        ),
        ("ijbc_1N_probe_mixed.csv", 3, "3", "expected TEMPLATE_ID,SUBJECT_ID,..., got '3'"),
        ("ijbc_1N_gallery_G1.csv", 3, "1,8,2.jpg", "template 1 has subject 8 here, 7 on line 2"),
    ],
)
def test_a_malformed_line_is_named_by_path_and_number(
    tmp_path: Path, name: str, line: int, text: str, why: str
) -> None:
    write_ijb_meta(small_protocol(tmp_path))
    path = tmp_path / "meta" / name
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ProtocolError, match=re.escape(f"{path}:{line}: ") + ".*" + re.escape(why)):
        load_ijb(tmp_path, check_images=False)


def test_the_two_image_lists_must_match(tmp_path: Path) -> None:
    files = IjbFiles(tmp_path, "IJBC")
    write_ijb_meta(small_protocol(tmp_path))
    landmark_lines = files.landmarks.read_text().splitlines()

    files.landmarks.write_text("\n".join(landmark_lines[:-1]) + "\n")
    with pytest.raises(ProtocolError, match=re.escape(f"1 image(s) only in {files.templates}:\n  6.jpg")):
        load_ijb(tmp_path, check_images=False)

    files.landmarks.write_text(
        "\n".join([*landmark_lines, landmark_lines[0].replace("1.jpg", "7.jpg")]) + "\n"
    )
    with pytest.raises(ProtocolError, match=re.escape(f"1 image(s) only in {files.landmarks}:\n  7.jpg")):
        load_ijb(tmp_path, check_images=False)

    swapped = [landmark_lines[0], landmark_lines[2], landmark_lines[1], *landmark_lines[3:]]
    files.landmarks.write_text("\n".join(swapped) + "\n")
    with pytest.raises(ProtocolError, match=r"the order differs from line 2 on \(2\.jpg vs 3\.jpg\)"):
        load_ijb(tmp_path, check_images=False)


def test_pairs_naming_templates_without_images_are_listed(tmp_path: Path) -> None:
    files = IjbFiles(tmp_path, "IJBC")
    write_ijb_meta(small_protocol(tmp_path))
    unknown = [f"1 {template} 0" for template in range(100, 112)]  # 12 templates, on lines 5-16
    files.pairs.write_text(files.pairs.read_text() + "\n".join(unknown) + "\n")
    with pytest.raises(ProtocolError) as raised:
        load_ijb(tmp_path, check_images=False)
    message = str(raised.value)
    assert message.startswith(f"{files.pairs}: names 12 template(s) that have no image in {files.templates}:")
    assert "\n  template 100 (first on line 5)\n" in message
    assert "template 109 (first on line 14)" in message and "template 110" not in message
    assert message.endswith("\n  ... and 2 more")


def test_1n_templates_without_images_are_an_error(tmp_path: Path) -> None:
    files = IjbFiles(tmp_path, "IJBC")
    write_ijb_meta(small_protocol(tmp_path))
    files.probe.write_text(files.probe.read_text() + "99,9,x.jpg\n")
    with pytest.raises(
        ProtocolError, match="(?s)" + re.escape(f"{files.probe}: names 1 template(s)") + ".*template 99"
    ):
        load_ijb(tmp_path, check_images=False)


def test_missing_loose_crops_are_listed(tmp_path: Path) -> None:
    protocol = small_protocol(tmp_path)
    write_ijb_meta(protocol)
    images = protocol.files.images
    images.mkdir()
    for name in ("1.jpg", "3.jpg", "4.jpg", "6.jpg"):
        (images / name).write_bytes(b"")
    expected = (
        f"{images}: 2 of 6 loose crop(s) named in {protocol.files.templates} are missing:\n  2.jpg\n  5.jpg"
    )
    with pytest.raises(FileNotFoundError, match=re.escape(expected)):
        load_ijb(tmp_path)
    for name in ("2.jpg", "5.jpg"):
        (images / name).write_bytes(b"")
    check_images_exist(load_ijb(tmp_path))


def test_the_protocol_checks_its_parts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="target must be one of"):
        small_protocol(tmp_path, target="IJBA")
    good = small_protocol(tmp_path)
    with pytest.raises(ValueError, match=re.escape("landmarks must have shape (6, 5, 2)")):
        IjbProtocol(**{**vars(good), "landmarks": good.landmarks[:, :4]})
    with pytest.raises(ValueError, match="IJBC's galleries are"):
        IjbProtocol(**{**vars(good), "gallery_subjects": {"S1": {1: 7}, "S2": {4: 8}}})
    with pytest.raises(ValueError, match="both probe_subjects and gallery_subjects"):
        IjbProtocol(**{**vars(good), "probe_subjects": None})


def test_miniature_from_lfw_with_yunet_landmarks(tmp_path: Path, lfw_root: Path) -> None:
    built = yunet_miniature(tmp_path, lfw_root)
    protocol = load_ijb(tmp_path)  # and every loose crop is there
    assert protocol.image_path(41) == tmp_path / "loose_crop" / "42.jpg"
    assert_same(protocol, built)

    assert len(protocol.image_names) == 6 * 6 + 3 * 2 == 42
    assert protocol.image_names[:3] == ("1.jpg", "2.jpg", "3.jpg")
    # Template sizes 1-3; the one video (two frames of one media) in each mated subject's probe A.
    _, sizes = np.unique(protocol.templates, return_counts=True)
    assert set(sizes.tolist()) == {1, 2, 3}
    media_ids, media_sizes = np.unique(protocol.medias, return_counts=True)
    assert media_ids.min() == FIRST_MEDIA and (media_sizes == 2).sum() == 6 and media_sizes.max() == 2
    # Real landmarks of real faces: inside the 250x250 crop, eyes above the mouth, confident.
    assert (protocol.landmarks > 0).all() and (protocol.landmarks < 250).all()
    assert (protocol.landmarks[:, :2, 1].max(axis=1) < protocol.landmarks[:, 3:, 1].min(axis=1)).all()
    assert (protocol.detector_scores > 0.5).all()
    # A video's second frame is the first moved by (4, 3) px: YuNet's points follow, give or take
    # its jitter (measured up to 5.8 px on a point, 1 px on the mean over the six videos).
    videos = [np.flatnonzero(protocol.medias == media) for media in media_ids[media_sizes == 2]]
    moves = np.stack([protocol.landmarks[second] - protocol.landmarks[first] for first, second in videos])
    assert np.abs(moves - [4, 3]).max() < 8
    np.testing.assert_allclose(moves.mean(axis=(0, 1)), [4, 3], atol=1.5)

    # 1:N: 6 gallery templates over two disjoint galleries; 18 probes, 6 of subjects in no gallery.
    assert protocol.probe_subjects is not None and protocol.gallery_subjects is not None
    g1, g2 = (set(gallery.values()) for gallery in protocol.gallery_subjects.values())
    assert len(g1) == len(g2) == 3 and not g1 & g2
    probe_subjects = list(protocol.probe_subjects.values())
    assert len(probe_subjects) == 18 and sum(s not in g1 | g2 for s in probe_subjects) == 6
    # 1:1: every gallery template against every probe template.
    assert protocol.labels.size == 6 * 18 and protocol.labels.sum() == 12

    # A feature that is the subject's one-hot vector: every genuine pair scores 1, every impostor 0.
    subject_of = {
        **protocol.probe_subjects,
        **protocol.gallery_subjects["G1"],
        **protocol.gallery_subjects["G2"],
    }
    features = np.eye(10)[[subject_of[t] for t in protocol.templates.tolist()]]
    ids, template_feats = template_features(
        features, protocol.templates, protocol.medias, protocol.detector_scores
    )
    scores = verification_scores(ids, template_feats, protocol.pairs_a, protocol.pairs_b)
    np.testing.assert_allclose(scores, protocol.labels, atol=1e-12)
