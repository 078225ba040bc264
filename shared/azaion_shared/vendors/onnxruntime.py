"""ONNX Runtime: the CPU everywhere, the CUDA provider where onnxruntime-gpu finds a GPU."""

from __future__ import annotations

from typing import Any

from azaion_shared import memfile
from azaion_shared.errors import ModelLoadError, RuntimeUnavailable
from azaion_shared.model_info import literal_metadata

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def module():
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeUnavailable(f"onnxruntime is not installed ({exc}): pip install onnxruntime") from exc
    return onnxruntime


def available() -> tuple[bool, str]:
    try:
        ort = module()
    except RuntimeUnavailable as exc:
        return False, str(exc)
    return True, f"onnxruntime {ort.__version__}, providers {', '.join(ort.get_available_providers())}"


def gpu_present() -> bool:
    """Whether the CUDA provider is here (onnxruntime-gpu): a session then runs on the GPU by default."""
    return "CUDAExecutionProvider" in module().get_available_providers()


def open_session(
    model: bytes | str, threads: int = 0, providers: list[str] | None = None, spin: bool = True, optimized: bool = False
):
    """An inference session from the model's bytes (never a plaintext file) or a path; the CUDA provider
    first where present, unless ``providers`` says otherwise. ``spin=False``: the worker threads sleep
    between runs instead of spinning (a CPU shared with other work loses less to idle spinning).
    ``optimized``: the bytes are what :func:`optimizing_session` made on this machine, opened without
    optimising the graph again."""
    ort = module()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if providers is None:
        providers = [p for p in PREFERRED_PROVIDERS if p in ort.get_available_providers()]
    return _session(ort, model, options, providers)


def optimizing_session(model: bytes) -> tuple[Any, bytes | None]:
    """A single-threaded CPU session of ``model``, and the model as ONNX Runtime optimises it for this
    machine's CPU (None where the system has no anonymous memory files, or where the CUDA provider will
    serve: that graph is for the CPU). One thread: all the session's work, a run included, stays in the
    calling thread, at its priority. Opening the optimised bytes with ``open_session(optimized=True)``
    skips the optimisation (about 12 instead of 30 ms for yolo11n, all of it off the GIL) and runs as
    fast; the optimised graph never leaves memory."""
    ort = module()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # not its warning that the optimised graph is for this machine only: it is
    keep = memfile.AVAILABLE and not gpu_present()
    if not keep:
        return _session(ort, model, options, ["CPUExecutionProvider"]), None
    with memfile.memory_file("optimized") as (target, fd):
        options.optimized_model_filepath = target
        session = _session(ort, model, options, ["CPUExecutionProvider"])
        return session, memfile.read_all(fd)


def _session(ort, model: bytes | str, options, providers: list[str]):
    try:
        if isinstance(model, bytes | bytearray) and memfile.AVAILABLE:
            # through an anonymous memory file: ONNX Runtime parses a path without holding the GIL (up
            # to 9 ms in one piece from bytes), so the frames of a running model go on meanwhile
            with memfile.memory_file("model", model) as (path, _):
                return ort.InferenceSession(path, sess_options=options, providers=providers)
        return ort.InferenceSession(model, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
        size = f"{len(model)} bytes" if isinstance(model, bytes | bytearray) else str(model)
        raise ModelLoadError(f"ONNX Runtime cannot load the model ({size}): {exc}") from exc


def cpu_session(model: bytes | str):
    return open_session(model, providers=["CPUExecutionProvider"])


def properties(session) -> dict[str, str]:
    """The model's metadata properties as stored (strings)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def metadata(model: bytes | str) -> dict[str, Any]:
    """The model's metadata with Python-literal values evaluated (ultralytics writes names that way)."""
    return literal_metadata(properties(cpu_session(model)))
