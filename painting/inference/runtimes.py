"""Run an eval-mode torch classifier through a chosen CPU inference backend.

`compile_model` turns a model and its square input size into `run(batch) -> logits`, where
batch is a float32 NCHW numpy array of any batch size. Backends: "torch" (eager),
"onnxruntime" (ONNX export) and "openvino" (OpenVINO IR), all in fp32 so their answers match
torch's. Exported files can be kept in a cache directory, keyed by the caller's weights hash,
the backend and the input size, so a restarted worker skips the export.

Knows nothing of Django.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .backends import BACKENDS

Runner = Callable[[np.ndarray], np.ndarray]


def available_backends() -> list[str]:
    """The backends whose packages are installed."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


@dataclass(frozen=True)
class Timed:
    median_ms: float  # wall clock per call
    cpu_ms: float  # this process's CPU time per call, all its threads


def time_calls(call: Callable[[], object], repeats: int, pause: float = 0.0) -> Timed:
    """How long `call` takes, over `repeats` calls after one that is not counted (a first
    call is several times slower); `pause` seconds after each, as between rounds (a spinning
    thread pool burns CPU in it, which cpu_ms then shows)."""
    call()
    times, used = [], time.process_time()
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
        if pause:
            time.sleep(pause)
    return Timed(statistics.median(times), (time.process_time() - used) * 1000 / repeats)


def compile_model(
    model: torch.nn.Module,
    input_size: int,
    backend: str,
    threads: int = 0,
    cache_dir: Path | None = None,
    cache_key: str = "",
) -> Runner:
    """A callable mapping a float32 (N, 3, input_size, input_size) array to (N, classes)
    logits. threads=0 means one per core. The torch backend uses torch's process-wide pool,
    which the caller sizes (torch.set_num_threads). Pass cache_dir together with a cache_key
    that changes whenever the weights do (e.g. their sha256)."""
    threads = threads or os.cpu_count() or 1
    if backend == "torch":
        return _torch_runner(model)
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; known: {', '.join(BACKENDS)}.")
    if cache_dir is not None and not cache_key:
        raise ValueError("A cache_dir needs a cache_key that identifies the weights.")
    with tempfile.TemporaryDirectory() as scratch:
        # Both runtimes read their files fully at load, so a scratch directory may go after.
        directory = Path(cache_dir) if cache_dir is not None else Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{cache_key or 'model'}-{backend}-{input_size}"
        if backend == "onnxruntime":
            return _onnxruntime_runner(model, input_size, directory / f"{stem}.onnx", threads)
        return _openvino_runner(model, input_size, directory / f"{stem}.xml", threads)


def _torch_runner(model: torch.nn.Module) -> Runner:
    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(_as_input(batch))).float().numpy()

    return run


def _onnxruntime_runner(model: torch.nn.Module, size: int, path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    if not path.is_file():
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        # Needs onnxscript. Folds the lite models' "same" padding into the convolutions.
        torch.onnx.export(
            _exported(model, size),
            f=temporary,
            input_names=["input"],
            output_names=["logits"],
            external_data=False,
            dynamo=True,
            verbose=False,
        )
        temporary.replace(path)  # atomic, so concurrent workers never read half a file

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No busy-waiting after a call: the web server and the database share these cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: _as_input(batch)})[0]

    return run


def _openvino_runner(model: torch.nn.Module, size: int, path: Path, threads: int) -> Runner:
    import openvino as ov

    core = ov.Core()
    if not path.is_file():
        converted = ov.convert_model(_exported(model, size))
        # An ExportedProgram converts with every dimension dynamic; only the batch is.
        converted.reshape({converted.inputs[0]: ov.PartialShape([-1, 3, size, size])})
        temporary = path.with_name(f"{path.stem}-{os.getpid()}.tmp.xml")
        # save_model would otherwise store the weights as fp16.
        ov.save_model(converted, temporary, compress_to_fp16=False)
        # The .bin first: a reader only looks for the .xml.
        temporary.with_suffix(".bin").replace(path.with_suffix(".bin"))
        temporary.replace(path)
    compiled = core.compile_model(
        core.read_model(path),
        "CPU",
        {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            # On CPUs with bf16 support (AVX512-BF16, AMX) the default is bf16.
            "INFERENCE_PRECISION_HINT": "f32",
        },
    )
    request = compiled.create_infer_request()
    lock = threading.Lock()  # an infer request serves one call at a time

    def run(batch: np.ndarray) -> np.ndarray:
        with lock:
            return request.infer({0: _as_input(batch)})[0]  # a copy, not the request's buffer

    return run


def _exported(model: torch.nn.Module, size: int) -> torch.export.ExportedProgram:
    """The model traced by torch.export with a dynamic batch dimension (the TorchScript
    exporters are deprecated)."""
    return torch.export.export(
        model,
        # Batch 2: torch.export specialises dimensions whose example size is 1.
        (torch.zeros(2, 3, size, size),),
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
    )


def _as_input(batch: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(batch, dtype=np.float32)
