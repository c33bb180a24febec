"""What the two MediaPipe methods share: where their models come from, the CPU-only device rule,
and the BlazeFace model prepared for the Tasks ``FaceDetector``.

Both methods register their assets from here, so this module imports no MediaPipe (whose
package imports its whole Tasks API, matplotlib and more): the flatbuffer schemas are imported
by the functions that edit a model, when a detector is built.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import flatbuffers
import numpy as np

from bench.assets import Asset
from bench.assets.derived import derived_file

if TYPE_CHECKING:
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    from bench.runtime import Runtime

log = logging.getLogger(__name__)

#: Where the Tasks API looks for the model's metadata (``Model.metadata[].name``).
_METADATA_NAME = "TFLITE_METADATA"
#: Flatbuffer file identifiers of a TFLite model and of its metadata.
_MODEL_ID, _METADATA_ID = b"TFL3", b"M001"
#: BlazeFace takes RGB scaled to [-1, 1]: ``(x - 127.5) / 127.5``, as MediaPipe's face detection
#: graphs feed it (``output_tensor_float_range {min: -1 max: 1}``).
_BLAZEFACE_MEAN, _BLAZEFACE_STD = 127.5, 127.5


def mediapipe_asset(name: str, sha256: str) -> Asset:
    """The ``.tflite`` model ``name`` of MediaPipe's model storage, as asset ``mediapipe_<name>``."""
    return Asset(
        f"mediapipe_{name}",
        f"weights/mediapipe/{name}.tflite",
        sha256=sha256,
        url=f"https://storage.googleapis.com/mediapipe-assets/{name}.tflite",
    )


def cpu_device(runtime: Runtime, method: str) -> str:
    """The device a MediaPipe method runs on: always the CPU.

    The Python Tasks API offers only an OpenGL GPU delegate and LiteRT's interpreter runs on the
    CPU, so no CUDA device is ever used. On a CUDA runtime the other stages may use the GPU, so
    this method is logged as running on the CPU and records ``cpu``.
    """
    if runtime.is_cuda:
        log.warning(
            "%s runs on the CPU (MediaPipe Tasks / LiteRT); %s is not used by it", method, runtime.device_name
        )
    return "cpu"


def blazeface_task_model(path: Path) -> bytes:
    """The bytes of BlazeFace model ``path`` in the form the Tasks ``FaceDetector`` accepts, made
    once into the asset cache.

    The Tasks API takes the input normalisation from the model's TFLite metadata and refuses a
    float model without it ("requires specifying NormalizationOptions metadata"). The BlazeFace
    files here are the legacy-graph models (``mediapipe/modules/face_detection``), which carry
    none; the Tasks zoo's ``blaze_face_short_range.tflite`` is the same network with metadata
    saying "RGB image, (x - 127.5) / 127.5". That metadata is written into a copy: graph and
    weights are unchanged. A model that already has metadata is copied as it is.
    (MediaPipe's own metadata writer needs a native module this wheel does not ship, hence the
    direct flatbuffer edit.)
    """

    from mediapipe.tasks.metadata import schema_py_generated as tflite_fb

    def add_metadata(source: Path, destination: Path) -> None:
        data = source.read_bytes()
        model = tflite_fb.ModelT.InitFromObj(tflite_fb.Model.GetRootAs(data, 0))
        names = [_as_str(entry.name) for entry in model.metadata or []]
        if _METADATA_NAME in names:
            destination.write_bytes(data)
            return

        buffer = tflite_fb.BufferT()
        buffer.data = np.frombuffer(_blazeface_metadata(len(model.subgraphs[0].outputs)), dtype=np.uint8)
        model.buffers.append(buffer)
        entry = tflite_fb.MetadataT()
        entry.name = _METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
        builder = flatbuffers.Builder(len(data) + 4096)
        builder.Finish(model.Pack(builder), _MODEL_ID)
        destination.write_bytes(builder.Output())

    recipe = f"blazeface metadata 1, flatbuffers {flatbuffers.__version__}, mediapipe {version('mediapipe')}"
    return derived_file(path, add_metadata, recipe=recipe).read_bytes()


def _blazeface_metadata(num_outputs: int) -> bytes:
    """``ModelMetadata`` for an RGB image input in [-1, 1] and plain feature outputs."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    normalization = meta_fb.NormalizationOptionsT()
    normalization.mean, normalization.std = [_BLAZEFACE_MEAN], [_BLAZEFACE_STD]
    unit = meta_fb.ProcessUnitT()
    unit.optionsType = meta_fb.ProcessUnitOptions.NormalizationOptions
    unit.options = normalization
    image = meta_fb.ImagePropertiesT()
    image.colorSpace = meta_fb.ColorSpaceType.RGB
    image_input = meta_fb.TensorMetadataT()
    image_input.name = "image"
    image_input.content = _content(meta_fb.ContentProperties.ImageProperties, image)
    image_input.processUnits = [unit]

    outputs = []
    for _ in range(num_outputs):
        output = meta_fb.TensorMetadataT()
        output.content = _content(meta_fb.ContentProperties.FeatureProperties, meta_fb.FeaturePropertiesT())
        outputs.append(output)

    subgraph = meta_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image_input]
    subgraph.outputTensorMetadata = outputs
    metadata = meta_fb.ModelMetadataT()
    metadata.name = "BlazeFace"
    metadata.subgraphMetadata = [subgraph]
    metadata.minParserVersion = "1.0.0"
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder), _METADATA_ID)
    return bytes(builder.Output())


def _content(kind: int, properties: object) -> meta_fb.ContentT:
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    content = meta_fb.ContentT()
    content.contentPropertiesType = kind
    content.contentProperties = properties
    return content


def _as_str(name: bytes | str | None) -> str:
    return name.decode() if isinstance(name, bytes) else name or ""
