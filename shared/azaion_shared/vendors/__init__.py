"""One module per vendor runtime; nothing else in the project imports a vendor SDK.

- :mod:`.onnxruntime`: ONNX Runtime (the trainer's checks, the edge's CPU/CUDA backend);
- :mod:`.tensorrt`: TensorRT and cuda-python (engines built by the trainer or on the device, run on
  the device) and the one compute-capability probe;
- :mod:`.rknn`: rknn-toolkit-lite2 on a Rockchip board (the converter, rknn-toolkit2, runs in its
  own virtualenv: ``services/trainer/trainer/rknn_convert.py``).

Each imports its SDK only inside its functions, says whether it is usable here (``available()``),
and translates the SDK's errors into :class:`~azaion_shared.errors.RuntimeUnavailable` and
:class:`~azaion_shared.errors.ModelLoadError`. Tests without the hardware replace the SDK modules
in ``sys.modules`` (``tests/support/edge_fakes.py``); these modules then run against the fakes.
"""
