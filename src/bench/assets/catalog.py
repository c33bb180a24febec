"""Every data set and weight file the benchmark knows, by name.

``relpath`` is the same below every asset root (``$BENCH_ASSETS``, ``../shared/assets``,
``checkpoints/``). ``sha256`` is checked where known. ``url`` is the upstream source; an
archive URL is unpacked into ``checkpoints/`` and ``relpath`` is then looked up inside it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Asset:
    name: str
    relpath: str
    sha256: str | None = None
    url: str | None = None
    is_dir: bool = False
    #: Shown in the missing-asset error, e.g. how to obtain files that have no direct URL.
    note: str = ""


_EDGEFACE_URL = "https://github.com/otroshi/edgeface/raw/main/checkpoints/{}.pt"
_MTCNN_URL = "https://github.com/timesler/facenet-pytorch/raw/master/data/{}.pt"

ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset(
            "lfw_pairs",
            "lfw/pairs.txt",
            sha256="ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
            url="http://vis-www.cs.umass.edu/lfw/pairs.txt",
        ),
        Asset(
            "lfw_deepfunneled",
            "lfw/lfw-deepfunneled",
            is_dir=True,
            url="http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz",
        ),
        Asset(
            "lfw_aligned_112",
            "lfw/lfw-aligned-112",
            is_dir=True,
            note="extract the LFW images of insightface's evaluation set lfw.bin "
            "(https://github.com/deepinsight/insightface/tree/master/recognition/_datasets_) "
            "into NAME/NAME_NNNN.jpg files",
        ),
        Asset(
            "yunet",
            "weights/yunet/face_detection_yunet_2023mar.onnx",
            sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
            "face_detection_yunet_2023mar.onnx",
        ),
        *(
            Asset(f"mtcnn_{net}", f"weights/mtcnn/{net}.pt", sha256=digest, url=_MTCNN_URL.format(net))
            for net, digest in (
                ("pnet", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
                ("rnet", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
                ("onet", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
            )
        ),
        *(
            Asset(name, f"weights/edgeface/{name}.pt", sha256=digest, url=_EDGEFACE_URL.format(name))
            for name, digest in (
                ("edgeface_xs_gamma_06", "e4e0c5732cbdb83a585a60c982e2be17245b2cba802d6f27a2aec8f430641a14"),
                ("edgeface_xs_q", "a31314377876ab9fa2a75e5638bc528efe79fd17d5c9c0a228fb7f846d7581a6"),
                ("edgeface_xxs_q", "46be7cc7e8d6e23501c0627fe5fbef101922ee9b85ccbef476987ab1a320b053"),
                ("edgeface_s_gamma_05", None),
                ("edgeface_base", None),
                ("edgeface_xxs", None),
            )
        ),
    )
}
