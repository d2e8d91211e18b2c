"""Build and run the xlr image through the Docker SDK: GPUs, the Hugging Face cache and runs/ mounted.

The image's layout is the Dockerfile's: work dir /work (runs in /work/runs), HF_HOME /cache/huggingface,
xlr's own cache (RS-DA's synonym table) /cache/xlr, ENTRYPOINT xlr. Runs use the host user's uid:gid, so the files they write in runs/ are the user's.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from xlr.commands.options import Network
from xlr.errors import XlrError
from xlr.machine.container import CONTAINER_HF_HOME, CONTAINER_RUNS, CONTAINER_XLR_CACHE
from xlr.store import DEFAULT_ROOT


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
    """The checkout this package runs from (src/xlr/commands/ here; it holds the Dockerfile), else the current
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


def container_options(image: str, args: list[str], gpus: str = "all", runs: Path = DEFAULT_ROOT,
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

    config = container_options(image, args, **options)
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


# ------------------------------------------------------------------------------------------- the verbs

app = typer.Typer(no_args_is_help=True, help="Build and run the xlr container: GPUs, the Hugging Face cache and runs/ mounted.")


@app.command("build")
def docker_build(
    tag: Annotated[str, typer.Option("--tag", "-t", help="Name of the image to build.")] = "xlr",
    base_image: Annotated[Optional[str], typer.Option(help="BASE_IMAGE build arg (default: the Dockerfile's CUDA "
                                                           "image); any Debian/Ubuntu image works.")] = None,
    torch_spec: Annotated[Optional[str], typer.Option(help="TORCH_SPEC build arg: pip arguments that pick torch "
                                                           "(default: the CUDA build from PyPI), e.g. a wheel in "
                                                           "wheels/.")] = None,
    torch_cuda: Annotated[Optional[str], typer.Option(
        help="A consistent CUDA base image + torch wheel pair: cu130 (the default; NVIDIA driver >= 580) or cu126 "
             "(driver >= 525.60.13; also Volta and Pascal GPUs).")] = None,
    context: Annotated[Optional[Path], typer.Option(help="Build context with the Dockerfile (default: this "
                                                         "checkout).")] = None,
    network: Network = None,
):
    """Build the xlr image from the Dockerfile, streaming the build log."""
    image_id = build(tag=tag, base_image=base_image, torch_spec=torch_spec, context=context,
                            network=network, torch_cuda=torch_cuda)
    typer.echo(f"built {tag} ({image_id})")


@app.command("run")
def docker_run(
    args: Annotated[Optional[list[str]], typer.Argument(help="xlr's arguments, after --: -- reproduce table1")]
    = None,
    image: Annotated[str, typer.Option(help="Image to run (see `xlr docker build`).")] = "xlr",
    gpus: Annotated[str, typer.Option(help="all, none, or GPU indices such as 0,1.")] = "all",
    no_gpus: Annotated[bool, typer.Option("--no-gpus", help="Same as --gpus none.")] = False,
    runs: Annotated[Path, typer.Option(help="Host folder mounted as the container's runs/.")] = DEFAULT_ROOT,
    hf_home: Annotated[Optional[Path], typer.Option(
        help="Host Hugging Face cache to mount (default: $HF_HOME or ~/.cache/huggingface).")] = None,
    env: Annotated[Optional[list[str]], typer.Option(
        "--env", "-e", help="KEY=VALUE (or KEY: the host's value) for the container; HF_TOKEN passes anyway.")]
    = None,
    volume: Annotated[Optional[list[str]], typer.Option(
        "--volume", "-v", help="Extra mount HOST:CONTAINER[:ro], e.g. for --data-dir.")] = None,
    network: Network = None,
):
    """Run `xlr ARGS` in the container and exit with its exit code."""
    raise typer.Exit(run(image, args or [], gpus="none" if no_gpus else gpus, runs=runs, hf_home=hf_home,
                                env=env or [], volumes=volume or [], network=network))
