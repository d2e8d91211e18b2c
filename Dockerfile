# xlr in a container: `docker build -t xlr .`, then `docker run --gpus all ... xlr reproduce table1`
# (README, "Container"). No BuildKit-only syntax: the legacy builder, which the Docker SDK and so
# `xlr docker build` drive, builds it too.
#
# BASE_IMAGE and TORCH_SPEC must agree on the CUDA major version:
#   default  nvidia/cuda 13.0 + `torch==2.13.0` from PyPI, whose Linux wheel is a CUDA 13.0 build
#            (driver >= 580, compute capability >= 7.5). tests/test_image.py checks that they agree.
#   older drivers (>= 525.60.13) or GPUs (compute capability 5.0 to 9.0, V100 included): the CUDA 12.6 pair,
#            which `xlr docker build --torch-cuda cu126` sets:
#            --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-base-ubuntu24.04
#            --build-arg TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
#   CPU:     any Debian/Ubuntu BASE_IMAGE and a CPU wheel (a file in wheels/, or the cpu index).
# The base is NVIDIA's smallest CUDA image: it sets the variables the NVIDIA Container Toolkit reads,
# and torch's wheels bring their own CUDA, cuDNN and NCCL libraries.
# Every package is installed at the exact version of requirements.lock (the versions CI tests).
ARG BASE_IMAGE=nvidia/cuda:13.0.2-base-ubuntu24.04

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
# 1. torch, on its own (its version from the lock; a CUDA or CPU build by TORCH_SPEC). The image records
#    which build it got: xlr refuses to fall back to the CPU silently in a CUDA image (src/xlr/machine/device.py).
COPY wheels/ wheels/
COPY requirements.lock ./
# A CUDA base image (NVIDIA's set CUDA_VERSION) whose major differs from the wheel's CUDA fails the build
# here, loudly, instead of building an image whose torch later sees no GPU.
RUN python3 -m venv /opt/xlr && /opt/xlr/bin/pip install -c requirements.lock $TORCH_SPEC && rm -rf wheels \
    && /opt/xlr/bin/python -c "import torch; print('cuda' if torch.version.cuda else 'cpu')" > /opt/xlr/image-kind \
    && /opt/xlr/bin/python -c "import os, sys, torch; base, wheel = os.environ.get('CUDA_VERSION'), torch.version.cuda; \
sys.exit(0 if not base or not wheel or base.split('.')[0] == wheel.split('.')[0] else \
f'BASE_IMAGE has CUDA {base} but TORCH_SPEC installed a CUDA {wheel} build of torch: pick a matching pair (docs/install.md, Container)')"
# 2. The other dependencies, from pyproject.toml alone: install a stub package, then drop the stub.
COPY pyproject.toml ./
RUN mkdir -p src/xlr reproduce paper_results && touch README.md src/xlr/__init__.py \
    && /opt/xlr/bin/pip install -c requirements.lock . && /opt/xlr/bin/pip uninstall -y xlr \
    && rm -rf README.md src reproduce paper_results
# 3. xlr itself, the way README installs it.
COPY README.md ./
COPY src/ src/
COPY reproduce/ reproduce/
COPY paper_results/ paper_results/
RUN /opt/xlr/bin/pip install -c requirements.lock . && rm -rf /tmp/xlr-src

ENV PATH=/opt/xlr/bin:$PATH \
    VIRTUAL_ENV=/opt/xlr \
    HOME=/home/xlr \
    HF_HOME=/cache/huggingface \
    XDG_CACHE_HOME=/cache \
    PYTHONUNBUFFERED=1
# Results and downloads outlive the container only when these are mounted from the host: runs, the
# Hugging Face cache, and xlr's own (RS-DA's synonym table):
#   -v "$PWD/runs:/work/runs" -v "$HOME/.cache/huggingface:/cache/huggingface" -v "$HOME/.cache/xlr:/cache/xlr"
# No VOLUME on purpose: anonymous volumes hid a 714 MB model and the results in unnamed places. xlr warns
# at the start of a run when /work/runs is not mounted; `xlr docker run` mounts all three.
WORKDIR /work
USER xlr
ENTRYPOINT ["xlr"]
CMD ["--help"]
