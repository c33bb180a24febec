"""Which face of an image is aligned: the selection rule, and the failure policy when none is found."""

from __future__ import annotations

from bench.alignment.perturbation import perturb_face
from bench.config import FailurePolicy, PerturbationConfig, Selection
from bench.detectors import Face, NoFaceError, select_face
from bench.detectors.center_crop import center_box
from bench.pipeline.records import ImageRecord, ImageStatus


class FaceChooser:
    """Picks the face to align by ``selection`` and applies ``policy`` when there is none:
    ``center_crop`` aligns the centre crop (side ``fallback_fraction`` of the shorter side),
    ``exclude`` leaves the image out, ``error`` stops the run. A detected face's landmarks get
    the controlled error ``perturbation`` asks for, if any, and the record its NME."""

    def __init__(
        self,
        detector: str,
        selection: Selection,
        policy: FailurePolicy,
        fallback_fraction: float,
        perturbation: PerturbationConfig | None = None,
    ) -> None:
        self.detector = detector
        self.selection = selection
        self.policy = policy
        self.fallback_fraction = fallback_fraction
        self.perturbation = perturbation if perturbation is not None and perturbation.active else None

    @property
    def needs_keys(self) -> bool:
        """Whether ``choose`` draws from each record's ``key``."""
        return self.perturbation is not None

    def choose(self, record: ImageRecord, shape: tuple[int, int], faces: list[Face]) -> Face | None:
        """The face to align, recorded in ``record``; ``None`` when the image is left out."""
        record.num_faces = len(faces)
        face = select_face(faces, shape, self.selection)
        if face is not None:
            if self.perturbation is not None:
                # Drawn from the content, as the embedding is cached: files with the same bytes
                # get the same error, whichever of them filled the cache.
                assert record.key, "a perturbation is drawn from the image's key"
                face, record.perturbation_nme = perturb_face(face, self.perturbation, record.key)
            record.status, record.face = ImageStatus.DETECTED, face
            return face
        record.status = ImageStatus.NO_FACE
        record.reason = f"{self.detector} found no face"
        if self.policy is FailurePolicy.error:
            raise NoFaceError(f"{record.path}: no face found and failure_policy=error")
        if self.policy is FailurePolicy.center_crop:
            box = center_box(shape[0], shape[1], self.fallback_fraction)
            record.face, record.fallback = Face(box=box, score=1.0), True
        return record.face
