"""Files that survive a crash: every write goes to a temporary name in the same folder and is renamed into
place, so a `kill -9` at any moment leaves either the old file or the new one, never half of one; a check that
a folder can be written before work that would write there starts; and an advisory lock for read-modify-write
of tables that several processes share."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from xlr.machine import distributed
from xlr.errors import XlrError

log = logging.getLogger("xlr.files")


def _cannot_write(folder: Path, what: str, variable: str, e: OSError) -> XlrError:
    reason = e.strerror or type(e).__name__
    if isinstance(e, (NotADirectoryError, FileExistsError)):
        fix = f"a file stands where a folder must be: set {variable} to another path"
    elif isinstance(e, PermissionError) or e.errno == errno.EROFS:
        fix = (f"make it writable (in Docker, create the host folder yourself before `-v` mounts it, or "
               f"`sudo chown -R $(id -u) FOLDER`), or set {variable} to a writable folder")
    else:
        fix = f"set {variable} to a writable folder"
    return XlrError(f"cannot write to the {what} {folder} ({reason}); {fix}")


def nearest_existing(path: Path) -> Path:
    """PATH, or the closest of its parents that exists (a link counts, even a broken one)."""
    path = Path(path).absolute()
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_writable(folder: Path, what: str, variable: str, *, create: bool = True) -> None:
    """That a file can be written in FOLDER, or fail with one line naming the fix. `create`: make FOLDER
    first; without it nothing is created (the nearest existing parent is probed), so the check can come
    before the other input's and a refusal leaves no folder behind."""
    try:
        if create:
            Path(folder).mkdir(parents=True, exist_ok=True)
            probe = Path(folder)
        else:
            probe = nearest_existing(folder)
            if not probe.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".xlr-write-check-"):
            pass
    except OSError as e:
        raise _cannot_write(folder, what, variable, e) from None


def check_output_file(path: Path, option: str, example: str | None = None) -> None:
    """Before the work whose result goes to the file PATH: PATH is not a folder and it can be written (its
    folder is not created here). `example`: a file name to suggest inside a folder given instead."""
    path = Path(path)
    if path.is_dir():
        raise XlrError(f"{option} {path} is a folder; give a file name" + (f", e.g. {path / example}" if example else ""))
    check_writable(path.parent, f"folder of {option}", option, create=False)


def swap_in(new: Path, target: Path) -> None:
    """Put the folder NEW in TARGET's place (the folder a link points to, if TARGET is a link): the old one is
    renamed aside, under a name no other run uses, and goes only once NEW is in; if that rename fails, the old
    folder goes back under its name. A process killed between the two renames leaves the old folder hidden
    beside TARGET: `interrupted_swap` finds it."""
    new, target = Path(new), Path(target)
    if target.is_symlink():
        target = target.resolve()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        new.rename(target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    retired.rmdir()
    target.rename(retired)
    try:
        new.rename(target)
    except BaseException:
        retired.rename(target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def interrupted_swap(target: Path) -> XlrError | None:
    """The error to raise when TARGET is missing because `swap_in` was killed half-way, else None."""
    target = Path(target)
    if os.path.lexists(target):
        return None
    kept = sorted(target.parent.glob(f".{target.name}.old-*"))
    if not kept:
        return None
    return XlrError(f"{target} was being replaced when its process stopped, and its previous contents are in "
                    f"{kept[-1]}: restore them with `mv {kept[-1]} {target}`, then run the command again")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    log.debug("rank %d writes %s", distributed.rank(), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; give it the mode any other new file gets, so that a run store shared
        # by a group on a cluster stays readable to the group
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path, fix: str = "delete it to redo that step") -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise XlrError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise XlrError(f"{path} is corrupt ({e}); {fix}") from None


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock (fcntl.flock) on `path`, held for the `with` block.

    Serialises read-modify-write of shared tables between processes, also on other machines where the file
    system supports flock (local disks, NFSv4, Lustre and GPFS with flock enabled)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


_SHA256: dict[tuple, str] = {}


def file_sha256(path: Path) -> str:
    """A file's sha256 (hex), computed once per process while its size and modification time stay the same."""
    import hashlib

    path = Path(path).expanduser().resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]
