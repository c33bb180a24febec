"""A miniature IJB-C (or IJB-B) in the release's format, built from LFW for tests.

What it keeps from the real protocol:

* subjects are LFW identities; a still image is its own media, and a media of several images is a
  video: here two frames, an LFW image and a copy shifted by a few pixels (re-encoded), since LFW
  has no video;
* every subject has probe templates; the first ``mated`` subjects also have one gallery template,
  in gallery 1 or 2 alternately (the two galleries are disjoint, as IJB-C's G1 and G2); the other
  subjects are in no gallery, so their probes are non-mated in both;
* each template holds 1 to 3 images (a gallery template: two stills; probe A: a still and a
  two-frame video; probe B: one still), no image in two templates;
* the 1:1 pairs compare every gallery template with every probe template, the gallery template
  first (as the release's ``p1``): genuine when the subjects agree, impostor otherwise;
* the loose crops are the LFW deep-funneled images (250x250) themselves, named ``<n>.jpg`` in
  line order; landmarks and detector scores come from ``landmarks_of``, run on each loose crop.

Everything is chosen in sorted order, so the miniature is the same on every run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench.data.ijb import GALLERIES, IjbFiles, IjbProtocol, write_ijb_meta
from bench.detectors import create_detector, select_face
from bench.runtime import Runtime

#: The landmark source: an RGB loose crop in, its five points (``FIVE_POINTS`` order) and score out.
LandmarksOf = Callable[[np.ndarray], tuple[np.ndarray, float]]
#: How far a video's second frame is shifted from its first, in pixels (x, y).
FRAME_SHIFT = (4, 3)
MATED_IMAGES = 5  # gallery: 2 stills; probe A: 1 still + 1 video frame (+ its shifted copy); probe B: 1
UNMATED_IMAGES = 2  # probe A: 1 still; probe B: 1 still
#: Media ids start here, so a test that confuses them with template ids fails.
FIRST_MEDIA = 1000


def build_ijb_miniature(
    root: Path,
    lfw_images: Path,
    landmarks_of: LandmarksOf,
    target: str = "IJBC",
    mated: int = 6,
    unmated: int = 3,
) -> IjbProtocol:
    """Write the miniature under ``root`` (``meta/`` and ``loose_crop/``) and return its protocol:
    ``mated`` subjects (the first LFW identities, sorted, with at least 5 images) in a gallery
    and ``unmated`` ones (the next with at least 2) in none: ``mated * 6 + unmated * 2`` images."""
    files = IjbFiles(root, target)
    files.images.mkdir(parents=True, exist_ok=True)
    builder = _Builder(files, landmarks_of)
    probes: dict[int, int] = {}
    galleries: dict[str, dict[int, int]] = {name: {} for name in GALLERIES[target]}
    for subject, (images, in_gallery) in enumerate(_pick_subjects(lfw_images, mated, unmated), start=1):
        if in_gallery:
            gallery = galleries[GALLERIES[target][(subject - 1) % 2]]
            gallery[builder.template([[(images[0], False)], [(images[1], False)]])] = subject
            still, frame, other = images[2:5]
            probes[builder.template([[(still, False)], [(frame, False), (frame, True)]])] = subject
            probes[builder.template([[(other, False)]])] = subject
        else:
            probes[builder.template([[(images[0], False)]])] = subject
            probes[builder.template([[(images[1], False)]])] = subject

    subject_of = {
        template: subject
        for mapping in (probes, *galleries.values())
        for template, subject in mapping.items()
    }
    gallery_templates = sorted(t for mapping in galleries.values() for t in mapping)
    pairs = [(g, p, int(subject_of[g] == subject_of[p])) for g in gallery_templates for p in sorted(probes)]
    pairs_a, pairs_b, labels = np.array(pairs, dtype=np.int64).T
    protocol = IjbProtocol(
        files.root, target, tuple(builder.names), builder.templates, builder.medias,
        np.array(builder.landmarks), builder.scores, pairs_a, pairs_b, labels, probes, galleries,
    )  # fmt: skip
    write_ijb_meta(protocol)
    return protocol


def yunet_miniature(root: Path, lfw_images: Path, target: str = "IJBC") -> IjbProtocol:
    """The miniature with YuNet's landmarks and scores (one thread, the benchmark's selection
    rule), as a detector would have given the release's."""
    detector = create_detector("yunet", Runtime.local("cpu", threads=1))

    def landmarks_of(image: np.ndarray) -> tuple[np.ndarray, float]:
        face = select_face(detector.detect([image])[0], image.shape)
        assert face is not None and face.landmarks is not None, "YuNet found no face in an LFW image"
        return face.landmarks, face.score

    try:
        return build_ijb_miniature(root, lfw_images, landmarks_of, target)
    finally:
        detector.close()


def _pick_subjects(lfw_images: Path, mated: int, unmated: int) -> list[tuple[list[Path], bool]]:
    """The first ``mated`` identities with ``MATED_IMAGES`` images, then the next ``unmated`` with
    ``UNMATED_IMAGES``: their images (sorted) and whether they go in a gallery."""
    chosen: list[tuple[list[Path], bool]] = []
    needed = {True: mated, False: unmated}
    for person in sorted(path for path in lfw_images.iterdir() if path.is_dir()):
        images = sorted(person.glob("*.jpg"))
        in_gallery = needed[True] > 0
        wanted = MATED_IMAGES if in_gallery else UNMATED_IMAGES
        if len(images) >= wanted:
            chosen.append((images[:wanted], in_gallery))
            needed[in_gallery] -= 1
        if not any(needed.values()):
            return chosen
    raise ValueError(f"{lfw_images} has too few identities with enough images for the miniature")


class _Builder:
    """Adds templates: writes each loose crop and records its line of the meta files."""

    def __init__(self, files: IjbFiles, landmarks_of: LandmarksOf) -> None:
        self.files, self.landmarks_of = files, landmarks_of
        self.names: list[str] = []
        self.templates: list[int] = []
        self.medias: list[int] = []
        self.landmarks: list[np.ndarray] = []
        self.scores: list[float] = []
        self.num_templates = self.num_medias = 0

    def template(self, medias: list[list[tuple[Path, bool]]]) -> int:
        """A new template of these medias, each a list of frames: an LFW image, and whether it is
        moved by ``FRAME_SHIFT`` (a video's next frame). Returns the template's id."""
        self.num_templates += 1
        for frames in medias:
            media = FIRST_MEDIA + self.num_medias
            self.num_medias += 1
            for image, shifted in frames:
                name = f"{len(self.names) + 1}.jpg"
                crop = self.files.images / name
                if shifted:
                    cv2.imwrite(str(crop), _shifted(cv2.imread(str(image))))
                else:
                    shutil.copyfile(image, crop)
                points, score = self.landmarks_of(cv2.cvtColor(cv2.imread(str(crop)), cv2.COLOR_BGR2RGB))
                self.names.append(name)
                self.templates.append(self.num_templates)
                self.medias.append(media)
                self.landmarks.append(np.asarray(points, dtype=np.float32).reshape(5, 2))
                self.scores.append(float(score))
        return self.num_templates


def _shifted(image: np.ndarray) -> np.ndarray:
    """The image moved right and down by ``FRAME_SHIFT``, its edges repeated: the next frame."""
    dx, dy = FRAME_SHIFT
    height, width = image.shape[:2]
    return np.pad(image, ((dy, 0), (dx, 0), (0, 0)), mode="edge")[:height, :width]
