"""Crash-safe files: written whole or not at all, and checked by sha256 before they are used.

The one implementation behind every file btlstm writes: the data and model
caches (:mod:`btlstm.data.cache`, the walk-forward engines), the report and
seeds folders (:mod:`btlstm.report.files`, :mod:`btlstm.report.seeds`), the
sweep's files and the paper-trading state.

- **One file** (:func:`atomic_write_bytes`, :func:`replacing`): the bytes go
  to a temporary file in the same folder, are flushed and fsync'ed, and the
  temporary file is moved over the target with ``os.replace`` (atomic on POSIX
  and Windows). A crash leaves the old file or the new one, never half of one.
- **A cached file's sidecar manifest** ``<file>.manifest.json``
  (:func:`write_manifest`, :func:`verify_manifest`, :func:`load_verified`):
  the file's sha256, size and row count, and what produced it. A file that was
  truncated, edited or swapped in, even one that still parses, is never used.
- **A folder as one unit** (:func:`write_folder`): every file into a hidden
  sibling folder, ``manifest.json`` (each file's sha256 and size) last, then
  the folder swapped into place (one ``renameat2(RENAME_EXCHANGE)`` on Linux,
  two renames elsewhere). An interrupted write leaves the previous folder whole.
- **Bounded reads of regular files** (:func:`file_kind`, :func:`regular_file`,
  :func:`read_bounded`, :func:`scan_binary`): only a regular file (or a link to
  one) is read as data or settings; a FIFO, a device or a folder is refused at
  once, naming what it is; every read stops at a byte limit.
- **Files btlstm reads back from its own folders** (:func:`read_nofollow`,
  :func:`read_untrusted`): caches, model files and paper state are data that
  anyone with access to the folder may have changed. They are opened with
  ``O_NOFOLLOW | O_NONBLOCK`` (a link, to ``/dev/zero`` or anywhere, is
  refused; a FIFO never blocks), only a regular file is read, and never more
  than a byte limit. :func:`remove_owned` deletes only regular files, never
  through a link.
- **Authentication** (:func:`sign`, :func:`signature_ok`, :func:`user_secret`):
  a sha256 says a file is whole, not who wrote it. Cache manifests and the
  paper state carry an HMAC-SHA256 keyed by a per-user secret
  (``$BTLSTM_HOME/secret``, default ``~/.btlstm/secret``, created mode 0600):
  an entry forged (with a recomputed sha256) or written by another user is
  not used.

A manifest entry is always :func:`file_entry` (``{"sha256", "bytes"}``) and is
checked by :func:`entry_problem`, for a cached file and a report folder alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from btlstm.errors import ReportError

__all__ = [
    "MANIFEST_SUFFIX",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable_dir",
    "entry_problem",
    "file_entry",
    "file_kind",
    "fsync_dir",
    "btlstm_home",
    "read_nofollow",
    "read_untrusted",
    "remove_owned",
    "sign",
    "signature_ok",
    "user_secret",
    "UnsafeFile",
    "listed_files",
    "load_verified",
    "manifest_path",
    "read_bounded",
    "read_manifest",
    "regular_file",
    "replacing",
    "scan_binary",
    "sha256_bytes",
    "sha256_file",
    "verify_manifest",
    "write_folder",
    "write_manifest",
]

logger = logging.getLogger("btlstm.data")

MANIFEST_SUFFIX = ".manifest.json"


# --------------------------------------------------------------------------- digests
def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entry(data: bytes) -> dict:
    """The manifest entry of a file's bytes: ``{"sha256": hex, "bytes": size}``.

    Example:
        >>> file_entry(b"abc")["bytes"]
        3
    """
    return {"sha256": sha256_bytes(data), "bytes": len(data)}


def entry_problem(entry, data: bytes | None = None, path=None) -> str | None:
    """Why the bytes (``data``, or the file at ``path``) do not match manifest ``entry``;
    None when they do. The size is compared first (cheap), then the sha256.

    Example:
        >>> entry_problem(file_entry(b"abc"), b"abc") is None, entry_problem(file_entry(b"abc"), b"abd")
        (True, 'sha256 mismatch with the manifest (file changed or corrupt)')
    """
    entry = entry if isinstance(entry, Mapping) else {}
    size = len(data) if data is not None else Path(path).stat().st_size
    if "bytes" in entry and entry["bytes"] != size:
        return f"size {size} bytes, manifest says {entry['bytes']} (truncated or changed)"
    digest = sha256_bytes(data) if data is not None else sha256_file(path)
    if entry.get("sha256") != digest:
        return "sha256 mismatch with the manifest (file changed or corrupt)"
    return None


# --------------------------------------------------------------------------- reading
def mode_kind(mode: int) -> str:
    """A file mode (``os.stat`` / ``os.lstat``) in words: ``"a regular file"``,
    ``"a symbolic link"``, ``"a folder"``, ``"a FIFO (named pipe)"``, ``"a character
    device"``, ``"a block device"``, ``"a socket"``.

    Example:
        >>> import os
        >>> mode_kind(os.stat("/dev/null").st_mode)
        'a character device'
    """
    import stat

    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((word for test, word in kinds if test(mode)), "not a regular file")


def file_kind(path) -> str:
    """What ``path`` is, in words: ``"a regular file"``, ``"a folder"``, ``"a FIFO (named
    pipe)"``, ``"a character device"``, ``"a block device"``, ``"a socket"``,
    ``"missing"``, ``"a broken link"``, or why it cannot be looked at (a name too long,
    a NUL byte). A link is followed and named: ``"a link to /dev/zero, a character device"``.

    Example:
        >>> file_kind("/dev/null"), file_kind("/")
        ('a character device', 'a folder')
    """

    text = os.fspath(path)
    if "\x00" in str(text):
        return "not a usable path (it contains a NUL byte)"
    try:
        st = os.stat(text)
    except FileNotFoundError:
        return "a broken link" if os.path.islink(text) else "missing"
    except NotADirectoryError:
        return "missing (a part of the path is a file, not a folder)"
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            return "not a usable path (the name is too long for the file system)"
        if e.errno == errno.ELOOP:
            return "a link that loops"
        return f"not readable ({e.strerror or e})"
    kind = mode_kind(st.st_mode)
    if os.path.islink(text) and kind != "a regular file":
        return f"a link to {os.path.realpath(text)}, {kind}"
    return kind


def regular_file(path, what: str = "file", error=ValueError) -> Path:
    """``path`` as a Path if it is a regular file (or a link to one); else ``error``
    naming ``what`` and the real file type, before anything is opened (a FIFO would
    block, a device never ends).

    Example:
        >>> regular_file("/dev/zero", "--config")
        Traceback (most recent call last):
        ValueError: --config: /dev/zero is a character device, not a regular file
    """
    kind = file_kind(path)
    if kind != "a regular file":
        p = Path(os.fspath(path))
        if kind.startswith("missing"):
            raise error(f"{what}: {p} does not exist{kind[len('missing') :]}")
        if kind.startswith("not "):
            raise error(f"{what}: {str(p)[:80]!r}{'...' if len(str(p)) > 80 else ''} is {kind}")
        raise error(f"{what}: {p} is {kind}, not a regular file")
    return Path(os.fspath(path)).expanduser()


def read_bounded(path, limit: int, what: str = "file", error=ValueError) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them: a longer file is
    ``error`` naming ``what``, the size and the limit (read stops at ``limit + 1``)."""
    p = regular_file(path, what, error)
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise error(f"{what}: cannot read {p} ({e.strerror or e})") from None
    if len(data) > limit:
        raise error(
            f"{what}: {p} is larger than {limit:,} bytes (the limit for this file): "
            "not a file btlstm reads"
        )
    return data


def scan_binary(fh, limit: int, chunk: int = 1 << 20):
    """Scan an open binary stream for a NUL byte, reading at most ``limit`` bytes.

    Returns:
        ``None`` when the stream is clean text within ``limit``; ``("nul", line,
        offset)`` for the first NUL byte (its 1-based line and byte offset);
        ``("size", None, limit)`` when the stream is longer than ``limit``.
    """
    lines, offset = 1, 0
    while True:
        block = fh.read(chunk)
        if not block:
            return None
        at = block.find(b"\x00")
        if at >= 0:
            return ("nul", lines + block.count(b"\n", 0, at), offset + at)
        lines += block.count(b"\n")
        offset += len(block)
        if offset > limit:
            return ("size", None, limit)


# --------------------------------------------------------------------------- untrusted files
class UnsafeFile(ValueError):
    """A file btlstm will not read: ``cause`` is ``"link"``, ``"type"`` (``detail``:
    what it is, in words), ``"size"`` (``detail``: its size in bytes, or None when
    it grew past the limit while read) or ``"read"`` (``detail``: the OS reason)."""

    def __init__(self, cause: str, detail=None):
        super().__init__(f"{cause}: {detail}")
        self.cause, self.detail = cause, detail


def read_nofollow(path, limit: int, expect: int | None = None) -> bytes:
    """The bytes of regular file ``path``, opened without following a link.

    ``O_NOFOLLOW | O_NONBLOCK``: a symbolic link is refused (never followed), a
    FIFO does not block, a device, a socket or a folder is refused by ``fstat``
    before a byte is read; a file larger than ``limit`` is refused from its size,
    and the read stops at ``limit + 1`` bytes (``expect + 1`` when the caller knows
    the size) whatever the file does meanwhile.

    Raises:
        FileNotFoundError: no such file.
        UnsafeFile: why it is not read (``cause`` ``"link"``, ``"type"``,
            ``"size"``, ``"read"``).
    """
    text = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(text, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP or os.path.islink(text):
            raise UnsafeFile("link") from None
        raise UnsafeFile("read", e.strerror or str(e)) from None
    try:
        import stat

        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile("type", mode_kind(st.st_mode))
        if st.st_size > limit:
            raise UnsafeFile("size", st.st_size)
        want = limit + 1 if not isinstance(expect, int) else min(limit, max(expect, 0)) + 1
        chunks, got = [], 0
        while got < want:
            chunk = os.read(fd, min(1 << 20, want - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise UnsafeFile("size", None)
        return data
    except OSError as e:
        raise UnsafeFile("read", e.strerror or str(e)) from None
    finally:
        os.close(fd)


def unsafe_reason(e: UnsafeFile, limit: int) -> str:
    """An :class:`UnsafeFile` in words (``"is a symbolic link (links are never followed)"``)."""
    if e.cause == "link":
        return "is a symbolic link (links are never followed)"
    if e.cause == "type":
        return f"is {e.detail}, not a regular file"
    if e.cause == "size":
        size = "more" if e.detail is None else f"{e.detail:,} bytes,"
        return f"holds {size} more than the {limit:,} bytes such a file may have"
    return f"cannot be read ({e.detail})"


def read_untrusted(path, limit: int, what: str, error=ValueError) -> bytes:
    """:func:`read_nofollow` with one ``error`` naming ``what`` and the file.

    Example:
        >>> read_untrusted("/dev/zero", 10, "cache entry")
        Traceback (most recent call last):
        ValueError: cache entry /dev/zero is a character device, not a regular file
    """
    try:
        return read_nofollow(path, limit)
    except FileNotFoundError:
        raise error(f"{what} {os.fspath(path)} does not exist") from None
    except UnsafeFile as e:
        raise error(f"{what} {os.fspath(path)} {unsafe_reason(e, limit)}") from None


def remove_owned(path) -> bool:
    """Delete ``path`` if it is a regular file (``lstat``: a link is never followed,
    and is not deleted either); True when a file was deleted."""
    import stat

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    os.unlink(path)
    return True


# --------------------------------------------------------------------------- authentication
SECRET_NAME = "secret"
_SECRETS: dict[str, bytes] = {}


def btlstm_home() -> Path:
    """btlstm's own folder of the user: ``$BTLSTM_HOME``, else ``~/.btlstm``."""
    env = os.environ.get("BTLSTM_HOME")
    return Path(env).expanduser() if env else Path.home() / ".btlstm"


def user_secret() -> bytes:
    """The per-user key of cache and state signatures (``btlstm_home() / "secret"``).

    Created on first use (32 random bytes, hex, mode 0600, ``O_EXCL``: never
    written through a link). A secret that is a link, not a regular file, not
    the user's own or readable by others is refused (``StateError``): it would
    let another user sign files. Where the home cannot be written, a secret of
    this process only is used with a warning (nothing written now can be reused
    later).
    """
    from btlstm.errors import StateError

    home = btlstm_home()
    key = str(home)
    if key in _SECRETS:
        return _SECRETS[key]
    path = home / SECRET_NAME
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.path.lexists(path):
            # written whole under a private name, then linked in: a process that finds
            # the secret (a parallel worker) never reads half of it
            tmp = home / f".secret-{secrets.token_hex(6)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
    except OSError as e:
        logger.warning(
            "cannot write btlstm's secret %s (%s): cache entries and paper state written now "
            "cannot be trusted by a later run (set BTLSTM_HOME to a folder of yours)",
            path, e.strerror or e,
        )  # fmt: skip
        _SECRETS[key] = secrets.token_bytes(32)
        return _SECRETS[key]
    try:
        import stat

        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and hasattr(os, "getuid"):
            if st.st_uid != os.getuid() or st.st_mode & 0o077:
                raise StateError(
                    f"btlstm's secret {path} is readable by others or not yours (mode "
                    f"{stat.S_IMODE(st.st_mode):o}): run 'chmod 600 {path}' or delete it"
                )
        data = read_nofollow(path, 4096).strip()
    except UnsafeFile as e:
        raise StateError(f"btlstm's secret {path} {unsafe_reason(e, 4096)}") from None
    if len(data) < 32:
        raise StateError(f"btlstm's secret {path} is too short ({len(data)} bytes); delete it")
    _SECRETS[key] = data
    return data


def sign(*parts) -> str:
    """HMAC-SHA256 (hex) of ``parts`` (str or bytes, NUL-joined) under :func:`user_secret`."""
    msg = b"\x00".join(p if isinstance(p, bytes) else str(p).encode() for p in parts)
    return hmac.new(user_secret(), msg, hashlib.sha256).hexdigest()


def signature_ok(signature, *parts) -> bool:
    """True when ``signature`` is :func:`sign` of ``parts`` (constant-time compare)."""
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(*parts))


# --------------------------------------------------------------------------- one file
def fsync_dir(folder) -> None:
    """Persist a rename in ``folder`` itself (best effort; not possible on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replacing(path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; move it over ``path`` when the block succeeds.

    The block writes the temporary file (e.g. ``model.save(tmp)``); on an
    error the temporary file is removed and ``path`` is untouched. The
    folder is created if needed.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with replacing(target) as tmp:
        ...     _ = tmp.write_text("whole")
        >>> target.read_text()
        'whole'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the file is never half-written.

    Args:
        path: the final file; its folder is created if needed.
        data: the bytes to write.

    Returns:
        The final path.

    Raises:
        OSError: when writing fails; the previous file (if any) is untouched
            and no temporary file is left behind.

    Example:
        >>> import pathlib, tempfile
        >>> p = atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "demo.bin", b"abc")
        >>> p.read_bytes()
        b'abc'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = Path(path)
    with replacing(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; data and reports are meant to be shared
    return path


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (see :func:`atomic_write_bytes`).

    Args:
        path: the final file.
        text: the text to write (newlines written as given).
        encoding: text encoding.

    Returns:
        The final path.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding))


# --------------------------------------------------------------------------- sidecar manifests
def manifest_path(path) -> Path:
    """The sidecar manifest of a cached file: ``<file>.manifest.json``."""
    path = Path(path)
    return path.with_name(path.name + MANIFEST_SUFFIX)


def write_manifest(path, rows: int, data: bytes | None = None, **extra) -> Path:
    """Write the manifest of ``path`` (sha256, bytes, rows, + ``extra`` fields).

    Args:
        path: the data file the manifest describes.
        rows: number of data rows in it.
        data: the file's bytes if already in memory (else the file is read).
        **extra: JSON-serialisable fields to record (e.g. the request).

    Returns:
        The manifest path.
    """
    path = Path(path)
    if data is None:
        entry = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    else:
        entry = file_entry(data)
    doc = {
        "file": path.name,
        **entry,
        "rows": int(rows),
        "written_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    doc.update(extra)
    doc["hmac"] = _manifest_signature(doc)
    return atomic_write_text(manifest_path(path), json.dumps(doc, indent=1) + "\n")


MAX_MANIFEST_BYTES = 1 << 20
"""The most bytes read from a sidecar manifest (btlstm writes well under 1 KiB)."""

MAX_MODEL_BYTES = 1 << 30
"""The most bytes read from a cached model file (1 GiB)."""


def _manifest_signature(doc: Mapping) -> str:
    """The HMAC of a manifest: its file name, kind, sha256 and size (the fields that
    decide whether the file is used)."""
    return sign(*_manifest_args(doc))


def read_manifest(path) -> dict | None:
    """The manifest of ``path`` as a dict, or None when there is none or it is unreadable
    (a link, not a regular file, over :data:`MAX_MANIFEST_BYTES`, nested too deep)."""
    from btlstm.convert import load_json

    mp = manifest_path(path)
    try:
        doc = load_json(read_nofollow(mp, MAX_MANIFEST_BYTES), mp.name)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def manifest_signed(doc: Mapping) -> bool:
    """True when manifest ``doc`` carries this user's signature (:func:`sign`)."""
    return signature_ok(doc.get("hmac"), *_manifest_args(doc))


def _manifest_args(doc: Mapping) -> tuple:
    return ("btlstm-manifest", doc.get("file"), doc.get("kind", ""), doc.get("sha256"),
            doc.get("bytes"))  # fmt: skip


def verify_manifest(
    path, required: bool = True, content=None, expect: dict | None = None,
    authenticate: bool = False, data: bytes | None = None,
) -> str | None:
    """Check a cached file against its manifest.

    Args:
        path: the data file (its manifest is ``<file>.manifest.json`` beside it).
        required: when True a missing manifest is a problem; when False a file
            without manifest passes (files that were not written by btlstm).
        content: check the bytes of this file instead of ``path`` (a private
            copy of ``path`` that the caller then reads, so the bytes checked
            are the bytes used); the manifest is still the one of ``path``.
        expect: manifest fields that must have these values (e.g.
            ``{"file": path.name}``: a file and manifest copied in under
            another name are caught).
        authenticate: the manifest must carry this user's HMAC
            (:func:`sign`): an entry forged with a recomputed sha256, or
            written by another user, is a problem.
        data: the bytes to check, already read (instead of a file).

    Returns:
        None when the file matches, else a short reason (``"sha256 mismatch"``...).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "prices.csv"
        >>> _ = atomic_write_text(path, "date,close\\n2010-01-04,1.0\\n")
        >>> _ = write_manifest(path, rows=1)
        >>> verify_manifest(path) is None
        True
        >>> _ = path.write_text(path.read_text().replace("2010", "2011"))
        >>> verify_manifest(path)
        'sha256 mismatch with the manifest (file changed or corrupt)'
    """
    path = Path(path)
    source = Path(content) if content is not None else path
    if data is None and (not path.is_file() or not source.is_file()):
        return "file missing"
    doc = read_manifest(path)
    if doc is None:
        if os.path.lexists(manifest_path(path)):
            return f"manifest {manifest_path(path).name} is unreadable"
        return f"no manifest {manifest_path(path).name}" if required else None
    for key, want in (expect or {}).items():
        if doc.get(key) != want:
            return f"manifest field {key!r} is {doc.get(key)!r}, expected {want!r}"
    problem = entry_problem(doc, data=data) if data is not None else entry_problem(doc, path=source)
    if problem is None and authenticate and not manifest_signed(doc):
        return (
            "its manifest is not signed with this user's secret (a forged entry, or one "
            "written by another user or an older btlstm)"
        )
    return problem


def load_verified(path, kind: str, load: Callable, what: str = "cached model") -> bool:
    """Load a cached file only if it is the file this user's btlstm wrote: ``load(copy)``.

    The entry is read without following a link (:func:`read_nofollow`: a link,
    a FIFO or a device is refused at once, at most :data:`MAX_MODEL_BYTES`),
    its bytes are checked against ``<file>.manifest.json`` (which must say
    ``file`` = its name and ``kind`` = ``kind``, and carry this user's HMAC,
    :func:`sign`), and only then written to a private folder and given to
    ``load``. A file swapped in, forged (even with a recomputed sha256) or
    edited, one without a manifest and one ``load`` rejects (it raises
    :class:`btlstm.errors.ModelFileError` or another ``ValueError``) are never
    used: a warning names the file and the caller refits (and rewrites the entry).

    Returns:
        True when ``load`` took the file.
    """
    path = Path(path)
    try:
        data = read_nofollow(path, MAX_MODEL_BYTES)
    except FileNotFoundError:
        logger.warning("%s %s is missing: retraining", what, path)
        return False
    except UnsafeFile as e:
        logger.warning("untrusted %s %s (%s): retraining", what, path,
                       unsafe_reason(e, MAX_MODEL_BYTES))  # fmt: skip
        return False
    reason = verify_manifest(
        path, required=True, data=data, expect={"file": path.name, "kind": kind},
        authenticate=True,
    )  # fmt: skip
    if reason is not None:
        logger.warning(
            "corrupt %s %s changed since it was written (%s): retraining", what, path, reason
        )
        return False
    with tempfile.TemporaryDirectory(prefix="btlstm-model-") as tmp:
        copy = Path(tmp) / path.name
        with open(copy, "xb") as fh:
            fh.write(data)
        try:
            load(copy)
        except ValueError as e:  # ModelFileError is one
            msg = str(e).replace(str(copy), str(path))
            logger.warning("corrupt %s %s (%s): retraining", what, path, msg)
            return False
    return True


# --------------------------------------------------------------------------- folders
def check_writable_dir(path, what: str = "folder") -> Path:
    """Check that folder ``path`` exists and is writable, or can be created there.

    The one writable-folder check of btlstm: the report folder
    (:func:`btlstm.report.files.check_outdir`), the model cache
    (``--cache-dir``), a sweep's folder and every other folder btlstm writes
    go through it before any work is done.

    Args:
        path: the folder (str or Path); it need not exist.
        what: how the user named it in messages (``"--out"``, ``"[output] cache_dir"``).

    Returns:
        ``path`` as an absolute Path.

    Raises:
        ReportError: not a path; an impossible name (NUL byte, a part longer
            than the file system allows); ``path`` or a parent is a file or a
            broken link; the nearest existing parent is not writable.
    """
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str) or not text:
        raise ReportError(f"{what}: expected a folder path, got {path!r}")
    if "\x00" in text:
        raise ReportError(f"{what}: {text!r} is not a valid folder name (it contains a NUL byte)")
    target = Path(text).expanduser().absolute()
    missing = []
    probe = target
    while True:
        try:
            if probe.exists():
                break
            if probe.is_symlink():
                raise ReportError(f"{what}: {str(probe)!r} is a broken link")
        except OSError as e:  # e.g. a name too long for the file system
            raise ReportError(f"{what}: {text!r} is not a usable folder ({e.strerror})") from None
        missing.append(probe.name)
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        if probe == target:
            raise ReportError(f"{what}: {text!r} exists and is not a folder")
        raise ReportError(f"{what}: {text!r}: {str(probe)!r} is a file, not a folder")
    try:
        limit = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    for name in missing:
        if len(os.fsencode(name)) > limit:
            raise ReportError(
                f"{what}: the folder name {name[:40]!r}... is too long (> {limit} bytes)"
            )
    try:
        tmp = probe / f".btlstm-probe-{secrets.token_hex(4)}"
        tmp.mkdir()
        tmp.rmdir()
    except OSError as e:
        raise ReportError(
            f"{what}: cannot write in {str(probe)!r} ({e.strerror or e}); choose another folder"
        ) from None
    return target


def listed_files(manifest) -> set[str]:
    """The names a folder's manifest lists (empty when there is none or it is unreadable)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        return set(json.loads(Path(manifest).read_text(encoding="utf-8"))["files"])
    return set()


def _put(folder: Path, name: str, data: bytes) -> Path:
    """Write one new file of a folder being built (flushed and fsync'ed)."""
    path = folder / name
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def _sibling(parent: Path, kind: str) -> Path:
    """A new empty hidden folder in ``parent`` (mode from the umask, like any folder)."""
    while True:
        path = parent / f".btlstm-{kind}-{secrets.token_hex(6)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(new: Path, target: Path, owned: set[str]) -> None:
    """Put the complete folder ``new`` at ``target``; the old folder there is deleted.

    Entries of the old folder that are not in ``owned`` (the user's own files)
    are moved into the new folder first.
    """
    if not target.exists():
        os.rename(new, target)
        fsync_dir(target.parent)
        return
    extras = [p.name for p in target.iterdir() if p.name not in owned]
    for name in extras:
        os.rename(target / name, new / name)
    try:
        if _exchange(new, target):
            old = new  # the exchange left the old folder at the temporary path
        else:
            old = _sibling(target.parent, "old")
            os.rename(target, old / "report")
            try:
                os.rename(new, target)
            except BaseException:
                os.rename(old / "report", target)
                raise
    except BaseException:
        for name in extras:
            with contextlib.suppress(OSError):
                os.rename(new / name, target / name)
        raise
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def write_folder(
    target,
    files: Mapping[str, bytes],
    header: Mapping,
    manifest: str = "manifest.json",
    owned=(),
    fill: Callable[[Path], Mapping[str, dict]] | None = None,
) -> dict[str, Path]:
    """Write folder ``target`` as one unit: ``files``, then ``manifest`` listing them.

    Args:
        target: the folder; its parent is created if needed. An existing
            folder there is replaced as a whole, except for entries that are
            neither in ``owned`` nor listed by its old manifest (the user's
            own files), which are moved into the new folder.
        files: ``{name: bytes}`` of the folder's files.
        header: the manifest's other fields (e.g. ``{"format": ..., "version": 1}``).
        manifest: the manifest's file name.
        owned: names the folder may hold that are always replaced.
        fill: called first with the temporary folder, to write what ``files``
            cannot hold (sub-folders); returns their manifest entries.

    Returns:
        ``{name: Path}`` of the files and the manifest in the new folder.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> sorted(write_folder(out, {"a.csv": b"x\\n"}, {"format": "demo"}))
        ['a.csv', 'manifest.json']
        >>> json.loads((out / "manifest.json").read_text())["files"]["a.csv"]["bytes"]
        2
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target.parent, "tmp")
    try:
        listed = dict(fill(tmp)) if fill is not None else {}
        for name, data in files.items():
            _put(tmp, name, data)
            listed[name] = file_entry(data)
        doc = {**header, "files": listed}
        _put(tmp, manifest, (json.dumps(doc, indent=2) + "\n").encode())  # listed in order
        fsync_dir(tmp)
        keep = set(owned) | listed_files(target / manifest) | {manifest}
        _swap_in(tmp, target, keep)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {name: target / name for name in [*files, manifest]}


# --------------------------------------------------------------------------- CSV cells
#: first characters that make a spreadsheet read a cell as a formula (``=cmd|...``),
#: tab and carriage return included (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = None  # compiled on first use


def safe_cell(value):
    """``value`` safe to open in a spreadsheet: text that starts with ``= + - @``, a tab or
    a carriage return (after any ``'``) gets one ``'`` in front, so it is shown as text,
    never run as a formula; numbers (``-5.2``, ``+3``, ``-inf``) and other values are
    returned as they are. :func:`plain_cell` undoes it exactly.

    Example:
        >>> safe_cell("=cmd|'/c calc'!A0"), safe_cell("-5.2"), safe_cell("SPY"), safe_cell(-1.0)
        ("'=cmd|'/c calc'!A0", '-5.2', 'SPY', -1.0)
    """
    global _NUMBER
    if not isinstance(value, str):
        return value
    text = value.lstrip("'")
    if not text.startswith(FORMULA_STARTS):
        return value
    if _NUMBER is None:
        import re

        _NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)$")
    if text == value and _NUMBER.match(value.lower()):  # "\r61" is no number
        return value
    return "'" + value


def plain_cell(value):
    """The value :func:`safe_cell` was given (one ``'`` taken off a neutralised cell).

    Example:
        >>> plain_cell(safe_cell("=1+1")), plain_cell(safe_cell("'-x")), plain_cell("'a")
        ('=1+1', "'-x", "'a")
    """
    if isinstance(value, str) and value.startswith("'"):
        text = value.lstrip("'")
        if text.startswith(FORMULA_STARTS) and safe_cell(value[1:]) == value:
            return value[1:]
    return value


def _map_text(frame, fn):
    out = frame.copy()
    out.columns = [fn(c) for c in out.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if col.dtype == object or str(col.dtype) in ("string", "str"):
            out.isetitem(i, col.map(fn, na_action="ignore").astype(object))
    return out


def csv_bytes(frame, **kw) -> bytes:
    """``frame.to_csv(index=False, **kw)`` as UTF-8 bytes, every text cell and column
    name through :func:`safe_cell`: the one way btlstm writes a CSV file (reports,
    seeds, sweeps), safe to open in a spreadsheet. :func:`read_safe_csv` reads it back."""
    return _map_text(frame, safe_cell).to_csv(index=False, **kw).encode("utf-8")


def plain_frame(frame):
    """A frame read from a file :func:`csv_bytes` wrote, its text as it was given."""
    return _map_text(frame, plain_cell)


def folders_overlap(a, b) -> bool:
    """``a`` and ``b`` are one folder, or one holds the other (links resolved, the
    folders need not exist): a report that replaces its folder would take the other's
    files with it.

    Example:
        >>> folders_overlap("/tmp/x", "/tmp/x/state"), folders_overlap("/tmp/x", "/tmp/y")
        (True, False)
    """
    pa = Path(os.path.realpath(Path(os.fspath(a)).expanduser()))
    pb = Path(os.path.realpath(Path(os.fspath(b)).expanduser()))
    return pa == pb or pa in pb.parents or pb in pa.parents
