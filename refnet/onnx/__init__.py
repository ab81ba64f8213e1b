"""ONNX interop: export a refnet model for any ONNX runtime, and import an ONNX model into refnet.

    refnet.onnx.export(model, "model.onnx")        # NeuralNetwork or GraphModel -> ONNX file
    model = refnet.onnx.load("model.onnx")         # ONNX file -> NeuralNetwork or GraphModel

``onnx`` (and ``onnxruntime`` to run the files) come with the optional extra ``refnet[onnx]``;
they are imported when an export or a load runs, never when refnet is imported. Each layer
class is one entry of ``EXPORTERS`` (refnet.onnx.exporter), each ONNX operator one entry of
``IMPORTERS`` (refnet.onnx.importer).
"""

from refnet.onnx.exporter import DEFAULT_OPSET, EXPORTERS, export
from refnet.onnx.importer import IMPORTERS, MAX_BYTES, load

__all__ = ["DEFAULT_OPSET", "EXPORTERS", "IMPORTERS", "MAX_BYTES", "export", "load"]
