"""ONNX Runtime: the FP32 model's ONNX export, and ONNX Runtime dynamic int8 of it.

ONNX Runtime's int8 kernels are faster than PyTorch's on CPUs, and its dynamic quantization
also turns the embedding tables into int8, so the file is about a quarter of FP32.

Running a model needs neither torch nor transformers (`OrtModel.logits`: numpy in and out, what
the lean service calls); they are imported only to build one.
"""

import logging
import shutil
from pathlib import Path

from ..atomic import write_json
from ..errors import PipelineError, first_line
from ..metrics_files import read_metrics
from .base import Backend, NumpyModel, int8_weights_need_headroom
from .graph import OPSET, exported_feeds, linear_nodes

MODEL_FILE = "model.onnx"
RECIPE_FILE = "onnx_recipe.json"  # beside an int8 model.onnx: how it was quantized


def quantize_onnx(fp32_path, int8_path, per_channel, keep_fp32_linears=(), headroom=False):
    """ONNX Runtime dynamic int8, every MatMul but those computing `keep_fp32_linears`; with
    `headroom`, weights in 7 bits (reduce_range: base.int8_weights_need_headroom says when)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph_nodes = [n.name for n in onnx.load(str(fp32_path), load_external_data=False).graph.node]
    exclude = linear_nodes(graph_nodes, keep_fp32_linears)

    # The quantizer logs on the root logger, on every call, a suggestion to pre-process shapes;
    # for BERT it changes nothing measurable here. Drop exactly that message, for the call.
    def not_the_preprocessing_hint(record):
        return not record.getMessage().startswith("Please consider to run pre-processing")

    root = logging.getLogger()
    root.addFilter(not_the_preprocessing_hint)
    try:
        quantize_dynamic(
            str(fp32_path),
            str(int8_path),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=headroom,
            nodes_to_exclude=exclude,
        )
    finally:
        root.removeFilter(not_the_preprocessing_hint)
    return {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": "QInt8",
        "per_channel": per_channel,
        "reduce_range": headroom,
        "opset": OPSET,
        "nodes_to_exclude": exclude,
    }


class OrtModel(NumpyModel):
    """An ONNX Runtime session answering like a transformers classifier."""

    def __init__(self, model_dir, threads=None):
        import onnxruntime as ort

        self.model_dir = model_dir = Path(model_dir)
        path = model_dir / MODEL_FILE
        if not path.is_file():
            raise PipelineError(f"{model_dir}: not an ONNX model directory ({MODEL_FILE} missing)")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            raise PipelineError(f"{path}: cannot load: {first_line(err)}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]

    def logits(self, batch):
        """float32 logits of a batch of numpy (or torch) inputs, as a numpy array."""
        return self.session.run(["logits"], exported_feeds(self.input_names, batch))[0]


class OnnxRuntime(Backend):
    name = "onnxruntime"
    label = "ONNX Runtime"
    prefix = "onnx_"
    subdir = "onnx"
    int8_method = "dynamic"
    description = "ONNX Runtime dynamic int8 of the ONNX export"
    libraries = ("onnxruntime",)
    numpy_io = True  # no BF16: its CPU provider has no BF16 kernels for BERT
    # quantize.embeddings: quantize_dynamic's default op types include Gather, so its embeddings
    # are int8 whatever the key says (5.9 MB against PyTorch's 18.2 in the committed run); not
    # declared here, since the default would then warn on every run: issue 27 part 4 closes it

    def precision_of(self, path):
        if not (Path(path) / MODEL_FILE).is_file():
            return None
        return "int8" if (Path(path) / RECIPE_FILE).is_file() else "fp32"

    def files(self, path, precision):
        return [Path(path) / MODEL_FILE]

    def int8_weights_7bit(self, path):
        return bool(read_metrics(Path(path) / RECIPE_FILE).get("reduce_range", False))

    def load(self, path, precision, threads=None):
        return OrtModel(path, threads)

    def build_fp32(self, source, out_dir):
        shutil.copyfile(source.onnx_path, Path(out_dir) / MODEL_FILE)

    def build_int8(self, source, fp32_dir, out_dir, keep_fp32):
        per_channel = source.params.scheme == "per_channel"
        recipe = quantize_onnx(
            Path(fp32_dir) / MODEL_FILE,
            Path(out_dir) / MODEL_FILE,
            per_channel,
            keep_fp32,
            int8_weights_need_headroom(),
        )
        write_json(Path(out_dir) / RECIPE_FILE, recipe)
        return recipe


BACKEND = OnnxRuntime()
