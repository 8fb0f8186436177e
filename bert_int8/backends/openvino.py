"""The OpenVINO backend: the ONNX export converted to OpenVINO IR (FP32), static int8 by NNCF
post-training quantization calibrated on train titles (or, when that misses the accuracy
budget, by NNCF quantization-aware training of the torch model, exported to IR), and either run
behind the same call as a transformers model (`model(**batch).logits`), in FP32 or with the
BF16 precision hint.

Static int8 fixes every activation scale at calibration, so a title's answer does not depend on
the other titles in its batch (dynamic int8 scales activations per batch), and OpenVINO's CPU
plugin fuses the quantize/dequantize steps around its VNNI/AMX kernels.

Running a model needs neither torch nor transformers (`OvModel.logits`: numpy in and out);
NNCF, torch and transformers are imported only to build one.
"""

import threading
from pathlib import Path

import numpy as np

from bert_int8.core.atomic import write_json
from bert_int8.core.errors import PipelineError, first_line
from bert_int8.data import buckets

from .base import Backend, NumpyModel, int8_weights_need_headroom
from .graph import calibration_batches, exported_feeds, linear_nodes, quiet_nncf

MODEL_FILE = "model.xml"  # and model.bin beside it
RECIPE_FILE = "openvino_recipe.json"


def convert_fp32(onnx_path, out_dir):
    """The ONNX model as OpenVINO IR in out_dir, weights kept FP32 (save_model's default would
    store them as FP16: not the FP32 model any more)."""
    import openvino as ov

    ov.save_model(ov.Core().read_model(str(onnx_path)), str(Path(out_dir) / MODEL_FILE), compress_to_fp16=False)


def quantize_int8(fp32_dir, out_dir, calibration, keep_fp32_linears=(), bias_correction=True, headroom=False):
    """NNCF post-training int8 (transformer preset: SmoothQuant, and no quantizers where BERT
    loses accuracy to them) of the IR in fp32_dir, calibrated on `calibration` (a list of feeds);
    the MatMuls that compute `keep_fp32_linears` go to the ignored scope. Without
    `bias_correction`, NNCF's bias correction (a pass over the calibration items that only moves
    bias values) is skipped. With `headroom`, every layer's weights keep to 7 bits (NNCF's
    overflow fix; base.int8_weights_need_headroom says when). Writes out_dir/model.xml and the
    recipe; returns the recipe."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import OverflowFix

    model = ov.Core().read_model(str(Path(fp32_dir) / MODEL_FILE))
    matmuls = [op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "MatMul"]
    ignored = linear_nodes(matmuls, keep_fp32_linears)
    input_names = [i.get_any_name() for i in model.inputs]
    dataset = nncf.Dataset(calibration, lambda item: {k: v for k, v in item.items() if k in input_names})
    with quiet_nncf():
        qmodel = nncf.quantize(
            model,
            dataset,
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(calibration),
            ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
            advanced_parameters=nncf.AdvancedQuantizationParameters(
                overflow_fix=OverflowFix.ENABLE if headroom else OverflowFix.FIRST_LAYER,
                disable_bias_correction=not bias_correction,
            ),
        )
    ov.save_model(qmodel, str(Path(out_dir) / MODEL_FILE), compress_to_fp16=False)
    recipe = {
        "method": "nncf.quantize",
        "model_type": "transformer",
        "calibration_items": len(calibration),
        "ignored_scope": ignored,
        "overflow_fix": "every layer" if headroom else "first layer",
    }
    if not bias_correction:  # recorded only when off: the pipeline's own models keep the default
        recipe["bias_correction"] = False
    write_json(Path(out_dir) / RECIPE_FILE, recipe)
    return recipe


# The FP32 model teaches its int8 twin during quantization-aware training with distill's loss, at
# fixed values: the common recipe's (temperature 2, soft labels weighted 0.5), distill.*'s defaults.
def int8_matmuls(model):
    """Names of the MatMuls of an OpenVINO model that run in int8: those with a FakeQuantize, or an
    int8 constant behind its dequantize steps, on an input."""
    passthrough = {"Convert", "Subtract", "Multiply", "Reshape", "Transpose"}

    def quantized(output, depth=0):
        node = output.get_node()
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind == "Constant":
            return node.get_element_type().get_type_name() in ("i8", "u8")
        if kind in passthrough and depth < 6:
            return any(quantized(i.get_source_output(), depth + 1) for i in node.inputs())
        return False

    return sorted(
        op.get_friendly_name()
        for op in model.get_ops()
        if op.get_type_name() == "MatMul" and any(quantized(i.get_source_output()) for i in op.inputs())
    )


class OvModel(NumpyModel):
    """A compiled OpenVINO model answering like a transformers classifier. `bf16` runs it with
    the BF16 inference-precision hint; otherwise FP32 is asked for explicitly, since the CPU
    plugin's default on a BF16-capable CPU is BF16.

    Where the directory records length buckets, any batch of one title whose width is a bucket
    (the benchmark's fixed-shape batch-1 calls at seq_len 32 included) runs on a model compiled
    for that static shape, [1, bucket], at the first such call (the service's warm-up makes it;
    it costs about 0.1-0.2 s and a copy of the compiled model in memory per bucket). A probe on a
    Zen 4 EPYC, one real title per call, the trained default's int8: p50 0.50 ms so against 0.63
    ms on the dynamic-shape model at the same widths and 0.93 ms unbucketed. Batches keep the
    dynamic model.

    `streams` > 1 compiles for throughput: that many streams share the `threads`, and up to that
    many calls from different threads run at once (the service's inference threads, `serve
    --streams`), each on an infer request of its own thread."""

    def __init__(self, model_dir, threads=None, bf16=False, streams=1):
        import openvino as ov

        self.model_dir = model_dir = Path(model_dir)
        path = model_dir / MODEL_FILE
        if not path.is_file():
            raise PipelineError(f"{model_dir}: not an OpenVINO model directory ({MODEL_FILE} missing)")
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"}
        if streams > 1:
            config.update(PERFORMANCE_HINT="THROUGHPUT", NUM_STREAMS=streams)
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.core, self.ov_config, self.path = ov.Core(), config, path
        try:
            self.compiled = self.core.compile_model(str(path), "CPU", config)
        except RuntimeError as err:
            raise PipelineError(f"{path}: cannot load: {first_line(err)}") from None
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        self.static_widths = set(buckets.read(model_dir) or ())
        self.static = {}  # width -> the compiled [1, width] model
        self.compiling = threading.Lock()
        self.mine = threading.local()  # this thread's infer requests, by compiled model

    def _compiled(self, feeds):
        """The compiled model for these inputs: the static [1, width] one for one title padded to
        a bucket (compiled at its first call), else the dynamic-shape one."""
        batch, width = next(iter(feeds.values())).shape
        if batch != 1 or width not in self.static_widths:
            return self.compiled
        if width in self.static:  # compiled already: no lock on the common path
            return self.static[width]
        with self.compiling:  # inference threads (serve --streams) may meet a new width at once
            if width not in self.static:
                try:
                    model = self.core.read_model(str(self.path))
                    model.reshape({name: [1, width] for name in self.input_names})
                    self.static[width] = self.core.compile_model(model, "CPU", self.ov_config)
                except RuntimeError as err:
                    raise PipelineError(f"{self.path}: cannot compile it for [1, {width}]: {first_line(err)}") from None
        return self.static[width]

    def _request(self, feeds):
        """This thread's infer request on the compiled model for these inputs, and its output."""
        compiled = self._compiled(feeds)
        requests = self.mine.__dict__.setdefault("requests", {})
        if id(compiled) not in requests:
            requests[id(compiled)] = (compiled.create_infer_request(), compiled.output(0))
        return requests[id(compiled)]

    def logits(self, batch):
        """float32 logits of a batch of numpy (or torch) inputs, as a numpy array."""
        feeds = exported_feeds(self.input_names, batch)
        request, output = self._request(feeds)
        return np.array(request.infer(feeds)[output])


class OpenVino(Backend):
    name = "openvino"
    label = "OpenVINO"
    prefix = "openvino_"
    subdir = "openvino"
    int8_method = "NNCF static"
    description = "OpenVINO IR of the ONNX export, static int8 by NNCF calibrated on train titles"
    libraries = ("openvino", "nncf")
    bf16 = True
    int8_methods = ("static",)  # scales fixed at calibration: answers independent of batch-mates
    recipe_file = RECIPE_FILE
    numpy_io = True
    needs_calibration = True
    supports_qat = True
    length_buckets = True  # each new shape's first call compiles its kernels (bert_int8.data.buckets)
    streams = True
    # NNCF's transformer preset sets its own weight scales, whatever quantize.scheme asks (and
    # quantizes the embeddings whatever quantize.embeddings says, not declared: see onnxruntime.py)
    ignores = {"scheme": "per_tensor"}

    def precision_of(self, path):
        if not (Path(path) / MODEL_FILE).is_file():
            return None
        return "int8" if (Path(path) / RECIPE_FILE).is_file() else "fp32"

    def files(self, path, precision):
        return [Path(path) / MODEL_FILE, Path(path) / "model.bin"]

    def int8_weights_7bit(self, path):
        return self.recipe(path).get("overflow_fix") == "every layer"

    def load(self, path, precision, threads=None, streams=1):
        return OvModel(path, threads, bf16=precision == "bf16", streams=streams)

    def build_fp32(self, source, out_dir):
        convert_fp32(source.onnx_path, out_dir)

    def build_int8(self, source, fp32_dir, out_dir, keep_fp32):
        calibration = calibration_batches(source.tokenizer, source.calibration_texts)
        return quantize_int8(
            fp32_dir,
            out_dir,
            calibration,
            keep_fp32,
            bias_correction=not source.timing_only,
            headroom=int8_weights_need_headroom(),
        )

    def build_int8_qat(self, source, out_dir, steps, calibration_texts=None, threads=2, desc=None):
        import openvino as ov

        from .openvino_qat import quantize_int8_qat  # torch and NNCF's training: only QAT needs them

        p = source.params
        ov_model, recipe = quantize_int8_qat(
            source.model,
            source.tokenizer,
            calibration_texts or source.calibration_texts,
            source.train,
            steps,
            p.qat_learning_rate,
            p.qat_batch_size,
            headroom=int8_weights_need_headroom(),
            threads=threads,
            desc=desc or "quantize openvino: quantization-aware training",
        )
        ov.save_model(ov_model, str(Path(out_dir) / MODEL_FILE), compress_to_fp16=False)
        write_json(Path(out_dir) / RECIPE_FILE, recipe)
        return recipe


BACKEND = OpenVino()
