# One image per light Python service (api, ingestor, augmentor, console) from this one file, each with only its
# own dependencies: the wheelhouse of that service (`make wheelhouse SERVICES=...`) is all it installs.
# `make images` (scripts/images.sh) passes the arguments; by hand, from the repository root:
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=ingestor --build-arg PORT=8081 \
#     --build-arg COMMAND=run -t azaion/ingestor .
# BASE: an image with Python 3.11 and python3-venv. Default: the official slim image; where no
# registry can be reached, `make images` passes the locally made azaion/python-base:bookworm.
# The trainer (GPU, torch) and the edge image (cpu/jetson/rockchip stages) have Dockerfiles of their own.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
# Marked so that scripts/images.sh can remove this stage's image once the final one is built.
LABEL azaion.stage=build
ARG SERVICE
COPY wheelhouse/${SERVICE} /wheels
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=api|ingestor|augmentor|console is required" >&2; exit 1; } \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels "azaion-${SERVICE}" dumb-init

FROM ${BASE}
ARG SERVICE
ARG PORT
ARG COMMAND=run
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 AZAION_ROOT=/azaion \
    AZAION_IMAGE_SERVICE=${SERVICE} AZAION_IMAGE_COMMAND=${COMMAND} \
    AZAION_IMAGE_HEALTH=http://127.0.0.1:${PORT}/healthz
RUN useradd --system --uid 10001 --user-group --home-dir /azaion --no-create-home azaion \
 && mkdir -p /azaion && chown azaion:azaion /azaion
COPY --from=build /opt/venv /opt/venv
USER azaion
WORKDIR /azaion
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=6 \
  CMD python -m azaion_shared.healthcheck "$AZAION_IMAGE_HEALTH"
ENTRYPOINT ["dumb-init", "--"]
CMD ["/bin/sh", "-c", "exec python -m \"$AZAION_IMAGE_SERVICE\" $AZAION_IMAGE_COMMAND"]
