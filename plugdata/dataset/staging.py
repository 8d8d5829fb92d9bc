"""Replacing a dataset folder all at once, and only a folder that is plugdata's own.

A build writes into a staging folder beside the output (`OUT/.<name>.plugdata-stage-*`), checks
it, and swaps it into place with one rename, so a reader (or a publish) sees the old folder or
the new one, never a mixture or a subset, whenever the build is killed. Files that plugdata did
not write (a `.git`, notes, a user's extra data) are carried into the new folder as hard links,
so no step of the swap can lose them; where one sits in plugdata's way it is kept as `*.orig`,
and only with `--force`.
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from plugdata.dataset import folder
from plugdata.dataset.folder import FolderError
from plugdata.dataset.manifest import ConfigEntry, Manifest

FORCE_HINT = "pass --force to build there anyway (files plugdata did not write are kept)"


@dataclass
class Existing:
    """What the output folder holds before a build: its manifest and the entries plugdata did
    not write (relative POSIX paths of files, symbolic links and other non-folders)."""

    root: Path
    manifest: Manifest
    foreign: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # broken configs left out (--force)

    @property
    def configs(self) -> dict[str, ConfigEntry]:
        return self.manifest.configs


@dataclass(frozen=True)
class Footprint:
    """The paths a folder's data takes: the splits of each config, and the languages that have
    a quarantine table. What decides whether a foreign entry is in the way (`in_the_way`), of a
    folder's manifest or of a build's plan (every config and split it may write)."""

    splits: dict[str, list[str]]  # config -> its splits
    quarantined: set[str]  # languages

    @classmethod
    def of(cls, manifest: Manifest) -> Footprint:
        return cls(
            {name: list(info.splits) for name, info in manifest.configs.items()},
            set(manifest.quarantine),
        )


def inspect(root: Path, recipe_file: str, *, force: bool = False) -> Existing:
    """Refuse, with one line, an output that is not plugdata's own unless `force`."""
    if root.is_symlink():
        raise FolderError(
            f"{root}: a symbolic link; plugdata replaces only a real folder: give --out the "
            "folder it points to"
        )
    if not root.exists():
        return Existing(root, Manifest())
    if not root.is_dir():
        raise FolderError(f"{root}: exists and is not a folder")
    try:
        manifest = folder.read_manifest(root)
        ours = (root / folder.MANIFEST).is_file()
    except FolderError as err:
        if not force:
            raise FolderError(f"{err}; {FORCE_HINT}") from None
        manifest, ours = Manifest(), False
    entries = list(_entries(root))
    if not ours and entries and not force:
        raise FolderError(f"{root}: not empty and has no plugdata {folder.MANIFEST}; {FORCE_HINT}")
    built_from = manifest.recipe if ours else None
    if built_from and built_from != recipe_file and not force:
        raise FolderError(f"{root}: built from {built_from}, not {recipe_file}; {FORCE_HINT}")
    owned = set(folder.owned_files(manifest))
    if ours:
        owned |= {folder.MANIFEST, folder.CARD}
    foreign = [e for e in entries if e not in owned or (root / e).is_symlink()]
    return Existing(root, manifest, foreign)


def check_kept(existing: Existing, rebuilt: list[str], *, force: bool = False) -> None:
    """Languages this build does not touch must be intact before it costs anything: they are
    carried into the new folder as they are. With `force`, a broken one is left out."""
    langs = set(existing.manifest.languages()) - set(rebuilt)
    for lang in sorted(langs):
        try:
            check_language(existing, lang)
        except FolderError as err:
            if not force:
                raise FolderError(
                    f"{err}; rebuild {lang} too (--lang {lang}) or pass --force to drop it"
                ) from None
            drop_language(existing, lang)


def check_language(existing: Existing, lang: str) -> None:
    for name, info in existing.manifest.configs_of(lang).items():
        folder.check_config(existing.root, name, info)
    folder.check_quarantine(existing.root, lang, existing.manifest.quarantine[lang])


def check_in_the_way(existing: Existing, planned: Footprint, *, force: bool = False) -> None:
    """Refuse, before any work, a foreign entry the build would overwrite or that `datasets`
    would read as part of a config: `planned` is the footprint of what the build may write
    (every config it can produce, with every split it may have). With `force` it is kept as
    *.orig."""
    if force:
        return
    blocking = [rel for rel in existing.foreign if in_the_way(rel, planned)]
    if blocking:
        first = blocking[0].rstrip("/")
        kind = (
            "a symbolic link" if (existing.root / first).is_symlink() else "not written by plugdata"
        )
        raise FolderError(
            f"{existing.root}/{first}: {kind}, where plugdata writes or reads its data; move it "
            "away or pass --force (it is then kept as *.orig)"
            + (f"; {len(blocking) - 1} more like it" if len(blocking) > 1 else "")
        )


def drop_language(existing: Existing, lang: str) -> None:
    for name in existing.manifest.configs_of(lang):
        del existing.configs[name]
        existing.dropped.append(name)
    existing.manifest.quarantine.pop(lang, None)


def _entries(root: Path) -> Iterator[str]:
    """Every non-folder under `root` (symbolic links included, never followed), and every
    empty folder, as relative POSIX paths."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if d not in links]
        for name in [*filenames, *links]:
            yield (here / name).relative_to(root).as_posix()
        if not dirnames and not filenames and not links and here != root:
            yield here.relative_to(root).as_posix() + "/"


# -- the staging folder ---------------------------------------------------------------------------
class Output:
    """The claim on `OUT/<name>` for one build: an exclusive lock, leftovers of killed builds
    removed, a fresh staging folder, and the swap."""

    def __init__(self, out: Path, name: str):
        self.out, self.name = out, name
        self.root = out / name
        self._lock_fd: int | None = None

    def _hidden(self, kind: str) -> Path:
        return self.out / f".{self.name}.plugdata-{kind}-{secrets.token_hex(4)}"

    def __enter__(self) -> Output:
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock()
        if not self.root.exists() and not self.root.is_symlink():
            # Killed between the two renames of the fallback swap: the old folder comes back.
            olds = sorted(self.out.glob(f".{self.name}.plugdata-old-*"), key=os.path.getmtime)
            if olds:
                os.rename(olds[-1], self.root)
        for leftover in self.out.glob(f".{self.name}.plugdata-*-*"):
            _remove(leftover)
        return self

    def __exit__(self, *exc) -> None:
        for leftover in self.out.glob(f".{self.name}.plugdata-*-*"):
            _remove(leftover)
        if self._lock_fd is not None:
            # Unlinked while held: a build that opened this file meanwhile sees, once it holds
            # the lock, that the name now leads elsewhere, and starts over (see `_lock`).
            self._lock_path.unlink(missing_ok=True)
            os.close(self._lock_fd)

    @property
    def _lock_path(self) -> Path:
        return self.out / f".{self.name}.plugdata.lock"

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: nothing to guard with
            return
        while True:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise FolderError(
                    f"{self.root}: another plugdata build is writing it; wait for that one to end"
                ) from None
            try:
                current = os.stat(self._lock_path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                self._lock_fd = fd
                return
            os.close(fd)  # the holder removed it as we opened it: take the new one

    def stage(self) -> Path:
        path = self._hidden("stage")
        path.mkdir()
        return path

    def commit(self, stage: Path) -> None:
        """Put `stage` in place of the output folder in one step."""
        if not self.root.exists():
            os.rename(stage, self.root)
            return
        if not _exchange(stage, self.root):
            old = self._hidden("old")
            os.rename(self.root, old)  # the only moment without a folder: never a mixed one
            os.rename(stage, self.root)
            stage = old
        _remove(stage)


def carry(existing: Existing, stage: Path, manifest: Manifest) -> list[str]:
    """Link into `stage` the old files the new manifest keeps, and every foreign entry; return
    the foreign entries kept aside as `*.orig` because they sat where plugdata writes."""
    old_files = folder.owned_files(existing.manifest)
    for rel in folder.owned_files(manifest):
        if rel in old_files and not (stage / rel).exists():
            _link(existing.root / rel, stage / rel)
    footprint = Footprint.of(manifest)
    aside = []
    for rel in existing.foreign:
        target = rel
        if in_the_way(rel, footprint):
            target = _free_name(stage, rel.rstrip("/") + ".orig")
            aside.append(rel)
        _link(existing.root / rel.rstrip("/"), stage / target, empty_dir=rel.endswith("/"))
    return aside


def in_the_way(rel: str, footprint: Footprint) -> bool:
    """Would a foreign entry at `rel` be overwritten by, or read as part of, a folder with
    this footprint?"""
    path = PurePosixPath(rel.rstrip("/"))
    if rel.rstrip("/") in (folder.MANIFEST, folder.CARD, folder.DATA, folder.QUARANTINE):
        return True
    if path.parts[0] == folder.QUARANTINE:
        langs = footprint.quarantined
        return any(rel.rstrip("/") == folder.quarantine_file(lang) for lang in langs)
    if path.parts[0] != folder.DATA or len(path.parts) < 2:
        return False
    config = path.parts[1]
    splits = footprint.splits.get(config)
    if splits is None:
        return False
    if len(path.parts) == 2:  # a file or link where the config's folder goes
        return True
    return len(path.parts) == 3 and any(
        fnmatch.fnmatchcase(path.name, PurePosixPath(folder.split_pattern(config, split)).name)
        for split in splits
    )


def _free_name(stage: Path, rel: str) -> str:
    candidate, n = rel, 1
    while (stage / candidate).exists() or (stage / candidate).is_symlink():
        candidate, n = f"{rel}.{n}", n + 1
    return candidate


def _link(source: Path, target: Path, *, empty_dir: bool = False) -> None:
    """A hard link (a copy across file systems); a symbolic link is recreated, not followed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if empty_dir:
        target.mkdir(exist_ok=True)
    elif source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_file():
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); False where the system
    cannot, and the caller falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
