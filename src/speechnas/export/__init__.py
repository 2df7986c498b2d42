"""Deployable copies of a trained model: ONNX (FP32, INT8, FP16) and a runtime to run them."""

from __future__ import annotations

from speechnas.export.bundle import ExportReport, Variant, export_bundle
from speechnas.export.heads import EncoderCTC, HeadGraphs, graph_file, head_graphs
from speechnas.export.onnx import ExportError, export_onnx
from speechnas.export.quantize import PRECISIONS, lower_graphs, to_fp16, to_int8
from speechnas.export.runtime import OnnxRecognizer, onnx_session

__all__ = [
    "PRECISIONS",
    "EncoderCTC",
    "ExportError",
    "ExportReport",
    "HeadGraphs",
    "OnnxRecognizer",
    "Variant",
    "export_bundle",
    "export_onnx",
    "graph_file",
    "head_graphs",
    "lower_graphs",
    "onnx_session",
    "to_fp16",
    "to_int8",
]
