"""MTCNN face detector written in PyTorch (registered as ``"mtcnn"``)."""

from bench.detectors.mtcnn.detector import MTCNNDetector

__all__ = ["MTCNNDetector"]
