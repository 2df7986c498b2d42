"""Lower-precision copies of an exported ONNX model: dynamic INT8 and FP16.

* INT8: ONNX Runtime's dynamic quantisation. Weights of matrix products (``MatMul``, ``Gemm``,
  and with ``conv=True`` ``Conv``) are stored as signed 8-bit integers, per output channel;
  activations are quantised on the fly per tensor. No calibration data is needed.
* FP16: every float tensor and operator in half precision, inputs and outputs kept float32
  (ONNX Runtime inserts the casts). On a CPU without native FP16 arithmetic this saves size,
  not time; it is meant for GPUs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import onnx

from speechnas.export.heads import graph_file

__all__ = ["PRECISIONS", "lower_graphs", "to_fp16", "to_int8"]

#: Precisions an exported model can be written in.
PRECISIONS = ("fp32", "int8", "fp16")


def to_int8(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, conv: bool = False
) -> Path:
    """Write a dynamically quantised INT8 copy of ``src`` to ``dst``.

    Args:
        conv: also quantise convolutions (ONNX Runtime's CPU kernel for dynamically quantised
            ``ConvInteger`` is slower than float on many CPUs, so the default leaves them).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ops = ["MatMul", "Gemm"] + (["Conv"] if conv else [])
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(src))
    # The exporter's intermediate shape annotations can disagree with what the quantiser's
    # shape inference derives after it rewrites nodes; it re-infers them without.
    del model.graph.value_info[:]
    # The quantiser logs a line per unquantised tensor on the root logger: noise here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        quantize_dynamic(
            model,
            out,
            op_types_to_quantize=ops,
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=_products_without_matrix_weights(model),
        )
    finally:
        root.setLevel(level)
    return out


def _products_without_matrix_weights(model: onnx.ModelProto) -> list[str]:
    """``MatMul``/``Gemm`` nodes whose second input is not a stored 2-D matrix.

    The exporter folds constant products into higher-rank initialisers (a relative-position
    table of shape ``(1, H, 1, P, D)``); per-channel quantisation of those writes zero
    points that ONNX Runtime's integer kernels refuse at run time, so they stay float.
    """
    matrices = {t.name for t in model.graph.initializer if len(t.dims) == 2}
    return [
        node.name
        for node in model.graph.node
        if node.op_type in ("MatMul", "Gemm") and node.input[1] not in matrices
    ]


def to_fp16(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Write an FP16 copy of ``src`` to ``dst`` (float32 inputs and outputs)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def lower_graphs(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    precision: str,
    graphs: Sequence[str] = ("",),
) -> Path:
    """Write the export whose first graph is ``src`` in ``precision`` (``"int8"`` or
    ``"fp16"``) as the export whose first graph is ``dst``: each of its ``graphs`` (by name,
    :func:`speechnas.export.heads.graph_file`), the first graph last. Returns ``dst``.

    Raises:
        ValueError: another precision.
    """
    if precision not in ("int8", "fp16"):
        raise ValueError(f"precision={precision!r}; expected 'int8' or 'fp16'")
    convert = to_int8 if precision == "int8" else to_fp16
    for name in sorted(graphs, key=lambda n: n == ""):
        convert(graph_file(src, name), graph_file(dst, name))
    return Path(dst)
