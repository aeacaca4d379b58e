"""Files that appear whole or not at all: written under a temporary name beside the target,
fsynced, then renamed over it. The registry's discipline, shared by every output the project
writes (canonical and scored CSVs, error files, reports), so a failed or killed run leaves
the previous file untouched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Temporary files start with this, beside their target (a killed run may leave one).
PARTIAL_PREFIX = ".partial-"


class OutputPathError(ValueError):
    """An output path that would overwrite an input or another output of the same run."""


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_partial(target: Path, mode: int) -> Path:
    """An empty file beside `target` under a fresh name (created exclusively: the process's
    umask applies, as it would to an ordinary open)."""
    while True:
        tmp = target.with_name(f"{PARTIAL_PREFIX}{secrets.token_hex(4)}-{target.name}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_paths(*targets: str | Path, mode: int = 0o666) -> Iterator[list[Path]]:
    """Temporary paths beside each target, renamed over the targets together when the block
    ends without an exception; removed (targets untouched) when it raises.

    Parameters
    ----------
    targets : paths
        The files to write. Their directories must exist.
    mode : int, default 0o666
        Permissions of the new files before the umask.
    """
    finals = [Path(t) for t in targets]
    temps: list[Path] = []
    try:
        for target in finals:
            temps.append(_new_partial(target, mode))
        yield list(temps)
        for tmp in temps:
            fsync_file(tmp)
        for tmp, target in zip(temps, finals):
            os.replace(tmp, target)
        for parent in {target.parent for target in finals}:
            fsync_dir(parent)
    except BaseException:
        for tmp in temps:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        raise


def write_bytes(path: str | Path, data: bytes, mode: int = 0o666) -> None:
    """Write `data` to `path` atomically (temporary file, fsync, rename)."""
    with atomic_paths(path, mode=mode) as (tmp,):
        tmp.write_bytes(data)


def refuse_overlap(
    inputs: dict[str, str | Path | None], outputs: dict[str, str | Path | None]
) -> None:
    """Refuse outputs that resolve to an input or to each other (symbolic links, `..` and
    hard links included), before anything is read or written.

    Parameters
    ----------
    inputs, outputs : dict of role -> path
        Roles name the paths in the message (e.g. "the export", "--out"); None is skipped.

    Raises
    ------
    OutputPathError
    """

    def key(path: Path):
        try:
            st = path.stat()
            return ("inode", st.st_dev, st.st_ino)
        except OSError:
            return ("path", os.path.realpath(path))

    seen: dict = {}
    for role, path in [*inputs.items(), *outputs.items()]:
        if path is None:
            continue
        path = Path(path)
        k, real = key(path), ("path", os.path.realpath(path))
        for other in {k, real}:
            if other in seen and role in outputs:
                raise OutputPathError(
                    f"{role} ({path}) is the same file as {seen[other]}; choose another "
                    "output name (nothing was read or written)"
                )
        seen.setdefault(k, role)
        seen.setdefault(real, role)
