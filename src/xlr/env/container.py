"""Build and run the xlr image through the Docker SDK: GPUs, the Hugging Face cache and runs/ mounted.

The image's layout is the Dockerfile's: work dir /work (runs in /work/runs), HF_HOME /cache/huggingface,
xlr's own cache (RS-DA's synonym table) /cache/xlr, ENTRYPOINT xlr. Runs use the host user's uid:gid, so the files they write in runs/ are the user's.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from xlr.errors import XlrError
from xlr.store import DEFAULT_ROOT

CONTAINER_RUNS = "/work/runs"
CONTAINER_HF_HOME = "/cache/huggingface"
CONTAINER_XLR_CACHE = "/cache/xlr"
PASS_THROUGH_ENV = ("HF_TOKEN",)
# --torch-cuda: consistent (base image, torch wheel) pairs, one per CUDA build that PyTorch publishes for the
# locked torch. The default CUDA 13.0 build needs driver >= 580; the CUDA 12.6 build runs on drivers >= 525
# (CUDA 12 minor-version compatibility) and on older GPUs (Maxwell to Hopper, Volta included). docs/install.md,
# "Which torch build", has the table; each key is also the name of its wheel index at PyTorch.
TORCH_CUDA = {
    "cu130": ("nvidia/cuda:13.0.2-base-ubuntu24.04", "torch==2.13.0"),   # the Dockerfile's default
    "cu126": ("nvidia/cuda:12.6.3-base-ubuntu24.04",
              "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"),
}
GPU = [["gpu"]]


def default_context() -> Path:
    """The checkout this package runs from (src/xlr/env/ here; it holds the Dockerfile), else the current
    folder."""
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "Dockerfile").is_file() else Path.cwd()


def connect():
    """A docker client that has reached the daemon, or XlrError naming the fix."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except docker.errors.DockerException as e:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        denied = " (permission denied: add your user to the docker group)" if "Permission denied" in str(e) else ""
        raise XlrError(f"cannot reach the Docker daemon at {where}{denied}; start Docker "
                       "(e.g. `sudo systemctl start docker`) or set DOCKER_HOST to a running daemon") from None


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def build_args(base_image: str | None = None, torch_spec: str | None = None, torch_cuda: str | None = None) -> dict:
    """BASE_IMAGE / TORCH_SPEC build args; --torch-cuda picks a pair whose CUDA majors agree."""
    if torch_cuda is not None:
        if torch_cuda not in TORCH_CUDA:
            raise XlrError(f"--torch-cuda '{torch_cuda}': use one of {', '.join(TORCH_CUDA)}")
        base, spec = TORCH_CUDA[torch_cuda]
        base_image, torch_spec = base_image or base, torch_spec or spec
    return {k: v for k, v in {"BASE_IMAGE": base_image, "TORCH_SPEC": torch_spec}.items() if v}


def build(tag: str = "xlr", base_image: str | None = None, torch_spec: str | None = None,
          context: Path | None = None, network: str | None = None, torch_cuda: str | None = None) -> str:
    """Build the image from CONTEXT/Dockerfile, streaming the log to stderr; returns the image id."""
    import docker

    buildargs = build_args(base_image, torch_spec, torch_cuda)
    context = Path(context or default_context())
    if not (context / "Dockerfile").is_file():
        raise XlrError(f"no Dockerfile in {context}: pass --context with an xlr checkout")
    api = connect().api
    image_id = None
    try:
        for chunk in api.build(path=str(context), tag=tag, buildargs=buildargs, network_mode=network,
                               rm=True, forcerm=True, decode=True):
            if "error" in chunk:
                raise XlrError(f"docker build failed: {_one_line(chunk['error'])}")
            if "stream" in chunk:
                sys.stderr.write(chunk["stream"])
            elif "status" in chunk and "progress" not in chunk:      # base-image pulls, without the bars
                sys.stderr.write(f"{chunk.get('id', '')} {chunk['status']}".strip() + "\n")
            image_id = chunk.get("aux", {}).get("ID", image_id)
    except docker.errors.APIError as e:
        raise XlrError(f"docker build failed: {_one_line(e.explanation or e)}") from None
    return image_id or tag


def device_requests(gpus: str) -> list:
    """`all` (every GPU), `none`, or comma-separated indices/UUIDs like `0,1`, as Docker device requests."""
    from docker.types import DeviceRequest

    if gpus == "none":
        return []
    if gpus == "all":
        return [DeviceRequest(count=-1, capabilities=GPU)]
    ids = [g.strip() for g in gpus.split(",") if g.strip()]
    if not ids or not all(g.isdigit() or g.startswith(("GPU-", "MIG-")) for g in ids):
        raise XlrError(f"--gpus '{gpus}': use all, none, or comma-separated GPU indices such as 0,1")
    return [DeviceRequest(device_ids=ids, capabilities=GPU)]


def _env_pair(item: str) -> tuple[str, str]:
    """`KEY=VALUE`, or `KEY` to pass the host's value (like `docker run -e`)."""
    key, sep, value = item.partition("=")
    if not key or (not sep and key not in os.environ):
        raise XlrError(f"--env '{item}': use KEY=VALUE, or KEY for a variable set on the host")
    return key, value if sep else os.environ[key]


def _volume(item: str):
    """`HOST:CONTAINER[:ro]` as a bind mount."""
    from docker.types import Mount

    parts = item.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]) or parts[2:] not in ([], ["ro"], ["rw"]):
        raise XlrError(f"--volume '{item}': use HOST_DIR:CONTAINER_DIR or HOST_DIR:CONTAINER_DIR:ro")
    return Mount(parts[1], str(Path(parts[0]).resolve()), type="bind", read_only=parts[2:] == ["ro"])


def host_hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")


def host_xlr_cache() -> Path:
    from xlr.methods.synonyms import cache_path

    return cache_path().parent


def run_config(image: str, args: list[str], gpus: str = "all", runs: Path = DEFAULT_ROOT,
               hf_home: Path | None = None, env: list[str] = (), volumes: list[str] = (),
               network: str | None = None) -> dict:
    """The keyword arguments of `client.containers.create` for one `xlr docker run`."""
    from docker.types import Mount

    environment = {"HF_HOME": CONTAINER_HF_HOME, "COLUMNS": str(shutil.get_terminal_size().columns)}
    # GPUs handed in are GPUs asked for: inside, xlr exits 2 instead of training on the CPU if torch sees none
    environment["XLR_DEVICE"] = "cpu" if gpus == "none" else "cuda"
    environment.update({k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ})
    environment.update(_env_pair(item) for item in env)
    mounts = [Mount(CONTAINER_RUNS, str(Path(runs).resolve()), type="bind"),
              Mount(CONTAINER_HF_HOME, str(Path(hf_home or host_hf_home()).resolve()), type="bind"),
              Mount(CONTAINER_XLR_CACHE, str(host_xlr_cache().resolve()), type="bind"),
              *(_volume(v) for v in volumes)]
    return dict(image=image, command=list(args) or None, device_requests=device_requests(gpus), mounts=mounts,
                environment=environment, user=f"{os.getuid()}:{os.getgid()}", network_mode=network,
                init=True,            # a real PID 1: signals reach xlr, dataloader workers are reaped
                ipc_mode="host")      # PyTorch dataloaders and NCCL need more shared memory than 64 MB


def run(image: str, args: list[str], **options) -> int:
    """Run `xlr ARGS` in the image, streaming its stdout and stderr; returns the container's exit code."""
    import docker

    config = run_config(image, args, **options)
    client = connect()
    for mount in config["mounts"]:          # ours are made here, as the user: the daemon would make them as root
        if mount["Target"] in (CONTAINER_RUNS, CONTAINER_HF_HOME, CONTAINER_XLR_CACHE):
            Path(mount["Source"]).mkdir(parents=True, exist_ok=True)
    try:
        container = client.containers.create(**config)
    except docker.errors.ImageNotFound:
        raise XlrError(f"image '{image}' not found: build it with `xlr docker build --tag {image}`") from None
    except docker.errors.APIError as e:
        raise XlrError(f"docker could not create the container: {_one_line(e.explanation or e)}") from None
    try:
        stream = container.attach(stdout=True, stderr=True, stream=True, logs=True, demux=True)
        try:
            container.start()
        except docker.errors.APIError as e:
            hint = ("; install the NVIDIA Container Toolkit or pass --gpus none"
                    if config["device_requests"] and "gpu" in str(e).lower() else "")
            raise XlrError(f"docker could not start the container: {_one_line(e.explanation or e)}{hint}") from None
        for out, err in stream:
            for data, sink in ((out, sys.stdout), (err, sys.stderr)):
                if data:
                    sink.buffer.write(data)
                    sink.flush()
        return int(container.wait()["StatusCode"])
    finally:
        container.remove(force=True)        # like `docker run --rm`; an interrupted run resumes on re-run


def mount_points() -> list[str]:
    """Mount points of this process (from /proc/self/mountinfo); empty where that is unreadable."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[4].replace("\\040", " ") for line in lines if len(line.split()) > 4]


def _on_a_mount(path: Path) -> bool:
    target = Path(path).resolve()
    return any(m != "/" and (target == Path(m) or Path(m) in target.parents) for m in mount_points())


def in_image() -> bool:
    """Whether this process runs inside the xlr image (its Dockerfile leaves IMAGE_KIND_FILE)."""
    from xlr.env.device import IMAGE_KIND_FILE

    return IMAGE_KIND_FILE.is_file()


def unmounted_output_warning(out: Path) -> str | None:
    """Inside the xlr image, a run store that is not on a host mount vanishes with the container: say so."""
    if not in_image() or _on_a_mount(out):
        return None
    target = Path(out).resolve()
    return (f"{target} is inside the container, not on a host folder: the results vanish with the container. "
            f"Mount one: docker run -v \"$PWD/runs:{CONTAINER_RUNS}\" ... (xlr docker run does this)")


def unmounted_notice(out: Path) -> list[str]:
    """The closing lines of a verb that wrote into the container's own layer: how to copy the results (and the
    downloads) out of this container, and the mounts that keep them next time. Empty outside the image."""
    if not in_image():
        return []
    import socket

    container = socket.gethostname()  # Docker names a container's host after its id unless --hostname is given
    lines = []
    keep = []
    target = Path(out).resolve()
    if target.exists() and not _on_a_mount(target):
        lines.append(f"the results in {target} exist only inside this container; copy them out before it is removed "
                     f"(a container started with --rm is removed when it exits): docker cp {container}:{target} ./runs")
        keep.append(f'-v "$PWD/runs:{target}"')
    hf_home = Path(os.environ.get("HF_HOME") or CONTAINER_HF_HOME)
    if hf_home.is_dir() and any(hf_home.iterdir()) and not _on_a_mount(hf_home):
        lines.append(f"the downloads in {hf_home} (model, data) are inside this container too and are fetched "
                     f"again by the next one: docker cp {container}:{hf_home} ~/.cache/")
        keep.append(f"-v ~/.cache/huggingface:{hf_home}")
    if keep:
        lines.append(f"next time mount them: docker run {' '.join(keep)} ... (or use `xlr docker run`, which does)")
    return lines
