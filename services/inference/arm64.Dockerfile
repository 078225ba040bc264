# The edge images for linux/arm64 boards, built by scripts/edge-arm64.sh (make edge-images ARCH=arm64)
# on an x86-64 host under qemu, or on an arm64 machine:
#   VARIANT=cpu       azaion/inference:cpu-arm64       ONNX Runtime on the CPU, any arm64 board
#   VARIANT=rockchip  azaion/inference:rockchip-arm64  + rknn-toolkit-lite2 for the RK3588 NPU (OrangePi 5);
#                     librknnrt.so is NOT in it: it is the board's (docker-compose.rockchip.yml mounts it)
# The venv's packages were installed on the host into build/edge-arm64/<variant>/ from the aarch64
# wheelhouse (pip install --target --platform manylinux_2_28_aarch64: wheels unpacked and compiled to
# bytecode there, no code of theirs run), so only `venv` and `useradd` run under emulation and the
# build needs no network. Pip, setuptools and the test suites of third-party wheels are left out.
ARG BASE=azaion/python-base:bookworm-arm64
FROM ${BASE}
ARG VARIANT=cpu
ARG BACKEND=auto
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 AZAION_ROOT=/azaion \
    YOLO_AUTOINSTALL=false YOLO_OFFLINE=true AZAION_INFERENCE__BACKEND=${BACKEND}
RUN python3 -m venv --without-pip /opt/venv \
 && useradd --system --uid 10001 --user-group --groups video --home-dir /azaion --no-create-home azaion \
 && mkdir -p /azaion /input /output && chown azaion:azaion /azaion /output
COPY build/edge-arm64/${VARIANT}/bin/ /opt/venv/bin/
COPY build/edge-arm64/${VARIANT}/site-packages/ /opt/venv/lib/python3.11/site-packages/
USER azaion
WORKDIR /azaion
EXPOSE 8090
# Healthy while the --live view answers (the compose service runs with --live 8090).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=4 \
  CMD ["python", "-m", "azaion_shared.healthcheck", "http://127.0.0.1:8090/healthz"]
ENTRYPOINT ["dumb-init", "--"]
CMD ["python", "-m", "inference", "--help"]
