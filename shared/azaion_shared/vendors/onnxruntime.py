"""ONNX Runtime: the CPU everywhere, the CUDA provider where onnxruntime-gpu finds a GPU."""

from __future__ import annotations

from typing import Any

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


def open_session(model: bytes | str, threads: int = 0, providers: list[str] | None = None, spin: bool = True):
    """An inference session from the model's bytes (never a plaintext file) or a path; the CUDA provider
    first where present, unless ``providers`` says otherwise. ``spin=False``: the worker threads sleep
    between runs instead of spinning (a CPU shared with other work loses less to idle spinning)."""
    ort = module()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if providers is None:
        providers = [p for p in PREFERRED_PROVIDERS if p in ort.get_available_providers()]
    try:
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
