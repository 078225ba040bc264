"""ONNX -> RKNN with rknn-toolkit2, then the toolkit's simulator on a few check inputs.

Runs in rknn-toolkit2's own virtualenv (it pins an older torch and onnx than the trainer), as a
script that imports nothing of this project:

    /opt/rknn/bin/python rknn_convert.py request.json

request: {"onnx", "out", "target", "int8", "dataset" (a text file of image paths, for int8),
          "checks": [".npy" inputs, (1, h, w, 3) uint8 RGB], "outputs": folder for the results}
It writes request.json's sibling result.json: {"ok", "error", "seconds", "toolkit", "outputs": [...]}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def convert(request: dict) -> dict:
    import numpy as np
    from rknn.api import RKNN

    started = time.perf_counter()
    rknn = RKNN(verbose=False)
    try:
        options = {"quantized_dtype": "w8a8"} if request["int8"] else {}
        rknn.config(mean_values=[[0, 0, 0]], std_values=[[255, 255, 255]], target_platform=request["target"], **options)
        steps = (
            ("load_onnx", lambda: rknn.load_onnx(model=request["onnx"])),
            ("build", lambda: rknn.build(do_quantization=request["int8"], dataset=request.get("dataset"))),
            ("export_rknn", lambda: rknn.export_rknn(request["out"])),
        )
        for name, step in steps:
            if step() != 0:
                return {"ok": False, "error": f"rknn-toolkit2 {name} failed (see its log above)"}
        outputs = []
        if request.get("checks"):
            if rknn.init_runtime() != 0:  # no target: the toolkit's simulator on this CPU
                return {"ok": False, "error": "the rknn-toolkit2 simulator did not start"}
            for i, path in enumerate(request["checks"]):
                result = rknn.inference(inputs=[np.load(path)], data_format="nhwc")
                out = Path(request["outputs"]) / f"check-{i}.npy"
                np.save(out, np.asarray(result[0], dtype=np.float32))
                outputs.append(str(out))
        return {"ok": True, "seconds": time.perf_counter() - started, "outputs": outputs}
    finally:
        rknn.release()


def main() -> int:
    request_path = Path(sys.argv[1])
    request = json.loads(request_path.read_text())
    try:
        from importlib.metadata import version

        toolkit = version("rknn-toolkit2")
        result = convert(request) | {"toolkit": toolkit}
    except Exception as exc:  # the toolkit raises anything; the trainer reports it
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    request_path.with_name("result.json").write_text(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
