"""Is this process in the xlr image, and is a folder on a host mount? (The Docker-driving verbs are
xlr.commands.docker.) Paths inside the image are constants here, shared by both."""
from __future__ import annotations

import os
from pathlib import Path

CONTAINER_RUNS = "/work/runs"
CONTAINER_HF_HOME = "/cache/huggingface"
CONTAINER_XLR_CACHE = "/cache/xlr"


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
    from xlr.machine.device import IMAGE_KIND_FILE

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
