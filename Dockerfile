# xlr in a container: `docker build -t xlr .`, then `docker run --gpus all ... xlr reproduce table1`
# (README, "Container"). No BuildKit-only syntax: the legacy builder, which the Docker SDK and so
# `xlr docker build` drive, builds it too.
#
# BASE_IMAGE: any Debian/Ubuntu image; python3 and venv are installed with apt when it lacks them.
#   The default is NVIDIA's smallest CUDA image: it sets the variables the NVIDIA Container Toolkit
#   reads, and PyPI's torch brings its own CUDA, cuDNN and NCCL libraries, so the larger
#   `-cudnn-runtime-` images would only duplicate them (they work too).
# TORCH_SPEC: the `pip install` arguments that pick torch. The default is the CUDA build from PyPI;
#   a CPU image takes a wheel from wheels/ (e.g. TORCH_SPEC=wheels/torch-2.13.0+cpu-...whl) or an
#   index (TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu").
ARG BASE_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04

FROM ${BASE_IMAGE}
RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# A fixed non-root user. `docker run --user "$(id -u):$(id -g)"` (what `xlr docker run` does) runs as
# the host user instead, so files in the mounted runs/ belong to them; HOME, the work dir and the
# cache are writable for any uid (mode 1777) for that reason.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /home/xlr xlr \
    && install -d -m 1777 /home/xlr /work /work/runs /cache /cache/huggingface /cache/xlr

# A virtual environment (no clash with the system's externally managed pip), filled in three layers
# from the least to the most often changed, so a source change reinstalls only xlr itself.
# One stage on purpose: copying a venv between stages costs minutes for the CUDA build; a local wheel
# in wheels/ does stay in its layer (the legacy builder has no build-time mounts).
ARG TORCH_SPEC="torch==2.13.0"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /tmp/xlr-src
# 1. torch, on its own: the package's `torch>=2.2` is then already satisfied.
COPY wheels/ wheels/
RUN python3 -m venv /opt/xlr && /opt/xlr/bin/pip install $TORCH_SPEC && rm -rf wheels
# 2. The other dependencies, from pyproject.toml alone: install a stub package, then drop the stub.
COPY pyproject.toml ./
RUN mkdir -p src/xlr reproduce paper_results && touch README.md src/xlr/__init__.py \
    && /opt/xlr/bin/pip install . && /opt/xlr/bin/pip uninstall -y xlr && rm -rf README.md src reproduce paper_results
# 3. xlr itself, the way README installs it.
COPY README.md ./
COPY src/ src/
COPY reproduce/ reproduce/
COPY paper_results/ paper_results/
RUN /opt/xlr/bin/pip install . && rm -rf /tmp/xlr-src

ENV PATH=/opt/xlr/bin:$PATH \
    VIRTUAL_ENV=/opt/xlr \
    HOME=/home/xlr \
    HF_HOME=/cache/huggingface \
    XDG_CACHE_HOME=/cache \
    PYTHONUNBUFFERED=1
# Results and downloads outlive the container when these are mounted from the host: runs, the Hugging
# Face cache, and xlr's own (RS-DA's synonym table):
#   -v "$PWD/runs:/work/runs" -v "$HOME/.cache/huggingface:/cache/huggingface" -v "$HOME/.cache/xlr:/cache/xlr"
VOLUME ["/work/runs", "/cache/huggingface", "/cache/xlr"]
WORKDIR /work
USER xlr
ENTRYPOINT ["xlr"]
CMD ["--help"]
