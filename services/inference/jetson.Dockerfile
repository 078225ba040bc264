# The edge inference service on a Jetson (JetPack 6): TensorRT on the GPU. Its base is NVIDIA's L4T
# image, which a site pulls from nvcr.io or loads (docker load); nothing else needs a network. Build
# from the repository root, on the Jetson or on an x86-64 host under qemu (make edge-images TARGET=jetson):
#   docker build -f services/inference/jetson.Dockerfile -t azaion/inference:jetson-arm64 .
# Not built in this repository's CI (no L4T image there): README, "Edge images for arm64".
ARG JETSON_BASE=nvcr.io/nvidia/l4t-jetpack:r36.4.0

# JetPack 6.1 = L4T r36.4.0: Python 3.10, TensorRT 10.3, CUDA 12.6.
# The venv sees JetPack's own tensorrt bindings (--system-site-packages); wheelhouse/inference-jetson,
# the cp310 aarch64 wheels of requirements-jetson.txt, is made by scripts/wheelhouse.sh inference-jetson
# on the Jetson or on any other host (make edge-images TARGET=jetson runs it).
FROM ${JETSON_BASE}
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 AZAION_ROOT=/azaion \
    YOLO_AUTOINSTALL=false YOLO_OFFLINE=true AZAION_INFERENCE__BACKEND=tensorrt
COPY wheelhouse/inference-jetson /wheels
RUN python3 -m venv --system-site-packages /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels \
      --no-deps /wheels/*.whl \
 && rm -rf /wheels \
 && python3 -c "import tensorrt; print('TensorRT', tensorrt.__version__)" \
 && useradd --system --uid 10001 --user-group --groups video --home-dir /azaion --no-create-home azaion \
 && mkdir -p /azaion /input /output && chown azaion:azaion /azaion /output
USER azaion
WORKDIR /azaion
EXPOSE 8090
HEALTHCHECK --interval=15s --timeout=5s --start-period=600s --retries=4 \
  CMD ["python", "-m", "azaion_shared.healthcheck", "http://127.0.0.1:8090/healthz"]
ENTRYPOINT ["dumb-init", "--"]
CMD ["python", "-m", "inference", "--help"]
