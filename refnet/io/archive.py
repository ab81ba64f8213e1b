"""The ``.npz`` archive under a model file: written atomically, read with bounded memory.

An ``.npz`` file is a zip archive with one ``.npy`` member per array. ``np.load`` would
decompress any member it is asked for, whatever its size, and trusts the member names;
a model file comes from anywhere, so it is read here in three steps, each bounded:

1. ``NpzReader(handle)`` reads the zip directory only: member names must look like
   refnet's keys, each member's data must lie inside the file, and the sizes the members
   declare (uncompressed) may exceed their stored sizes by at most ``MAX_EXPANSION`` times
   (plus ``EXPANSION_SLACK``): a small file cannot unpack into a huge one.
2. ``header(key)`` reads one member's ``.npy`` header (shape and dtype) without its data,
   and checks that the declared size is exactly what the header describes. The caller
   compares the headers with what the model's config says before reading any data.
3. ``read(key)`` reads exactly the declared bytes (checked against the zip CRC) into one
   new array: reading allocates what the headers declared, never more.

Any damage (a bad zip directory or header, a CRC mismatch, a truncated member) raises
``ModelFileError``; so does an object (pickle) array, which is never read.

Writing (``write_npz_atomically``) goes to a temporary file with a short name in the same
folder, flushed and fsynced, then ``os.replace``d over the target, so a failed save never
damages the previous file. The new file gets the permissions of the file it replaces, or
for a new file the usual ones (0666 less the umask): saving never widens who can read a
model. On any exception, and on SIGTERM when the program does not handle it itself, the
temporary file is removed. A process killed outright (SIGKILL, a power cut) can leave one
behind, named ``.refnet-save-*.tmp``; the model file itself is intact, and the temporary
file may be deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
import struct
import threading
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any, cast

import numpy as np
from numpy.typing import NDArray

from refnet.errors import ModelFileError

Array = NDArray[Any]

#: A member is ``{key}.npy`` with a key such as ``param.0.W`` (refnet writes no other names).
KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]{0,199}")
#: Declared (uncompressed) bytes may be at most this many times the stored (compressed) bytes,
#: plus ``EXPANSION_SLACK`` per archive. refnet writes uncompressed members (ratio 1); float
#: data recompressed by a user shrinks by far less than this.
MAX_EXPANSION = 20
EXPANSION_SLACK = 1 << 20
#: The largest ``.npy`` header read (NumPy's own default limit).
MAX_HEADER_BYTES = 10_000
#: Data is read in blocks of this size, straight into the array's memory.
READ_BLOCK = 1 << 20

# NumPy's .npy readers, with the types they have from NumPy 2.3 on (earlier NumPys ship them
# unannotated, which mypy --strict refuses to call under the NumPy that Python 3.10 gets).
HeaderReader = Callable[[IO[bytes], int], tuple[tuple[int, ...], bool, np.dtype[Any]]]
read_magic = cast(Callable[[IO[bytes]], tuple[int, int]], np.lib.format.read_magic)
HEADER_READERS = {
    (1, 0): cast(HeaderReader, np.lib.format.read_array_header_1_0),
    (2, 0): cast(HeaderReader, np.lib.format.read_array_header_2_0),
}

# What reading a damaged zip archive or .npy header raises (a bad directory or header, a
# CRC mismatch, an unexpected end, a corrupt deflate stream; NumPy parses an old-style header
# with ``tokenize``): turned into ModelFileError.
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    struct.error,
    zlib.error,
    tokenize.TokenError,
)


@contextlib.contextmanager
def damage_is_model_file_error(where: str) -> Iterator[None]:
    """Turn what a damaged archive raises inside the block into ``ModelFileError``."""
    try:
        yield
    except ModelFileError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise ModelFileError(f"{where} is corrupt or truncated: {type(exc).__name__}: {exc}") from exc


class NpzReader:
    """The arrays of an ``.npz`` archive, read one by one with the checks described above.

    Args:
        handle: the open file (binary, seekable); the caller closes it.
        where: the file's name, for error messages.
    """

    def __init__(self, handle: IO[bytes], where: str) -> None:
        self.where = where
        with damage_is_model_file_error(where):
            file_size = handle.seek(0, os.SEEK_END)
            handle.seek(0)
            self.zip = zipfile.ZipFile(handle)
            self.members = self._check_directory(self.zip.infolist(), file_size)

    def _check_directory(self, infos: list[zipfile.ZipInfo], file_size: int) -> dict[str, zipfile.ZipInfo]:
        members: dict[str, zipfile.ZipInfo] = {}
        stored = declared = compressed_declared = compressed_stored = 0
        for info in infos:
            key = info.filename.removesuffix(".npy")
            if not (info.filename.endswith(".npy") and KEY.fullmatch(key)):
                raise ModelFileError(
                    f"{self.where}: the archive has a member named {info.filename!r}, which refnet never writes"
                )
            if key in members:
                raise ModelFileError(f"{self.where}: the archive has two members named {info.filename!r}")
            if info.flag_bits & 0x1:
                raise ModelFileError(f"{self.where}: member {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFileError(f"{self.where}: member {info.filename!r} uses an unsupported compression")
            if info.header_offset + info.compress_size > file_size:
                raise ModelFileError(
                    f"{self.where} is truncated: member {info.filename!r} ends past the end of the file"
                )
            if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                raise ModelFileError(f"{self.where}: member {info.filename!r} declares two different sizes")
            if info.compress_type == zipfile.ZIP_DEFLATED:
                compressed_declared += info.file_size
                compressed_stored += info.compress_size
            stored += info.compress_size
            declared += info.file_size
            members[key] = info
        # Members may not overlap (a zip bomb re-reads one compressed block under many names).
        if stored > file_size:
            raise ModelFileError(
                f"{self.where}: its members claim more bytes ({stored}) than the file has ({file_size})"
            )
        if compressed_declared > MAX_EXPANSION * compressed_stored + EXPANSION_SLACK:
            raise ModelFileError(
                f"{self.where}: its compressed members would unpack to {compressed_declared} bytes from "
                f"{compressed_stored}, more than {MAX_EXPANSION} times their size: not a model file refnet reads"
            )
        return members

    def _open_header(self, key: str) -> tuple[IO[bytes], tuple[int, ...], np.dtype[Any], bool]:
        """The member's stream positioned at its data, with the header's shape, dtype and order."""
        info = self.members[key]
        stream = self.zip.open(info)
        try:
            version = read_magic(stream)
            if version not in HEADER_READERS:
                raise ModelFileError(f"{self.where}: array {key!r} has .npy format version {version}")
            shape, fortran_order, dtype = HEADER_READERS[version](stream, MAX_HEADER_BYTES)
            if dtype.hasobject:
                raise ModelFileError(
                    f"{self.where} contains an object (pickle) array {key!r}, which refnet never loads"
                )
            if any(length < 0 for length in shape):
                raise ModelFileError(f"{self.where}: array {key!r} has a negative length in its shape {shape}")
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize  # exact: no overflow
            if stream.tell() + size != info.file_size:
                raise ModelFileError(
                    f"{self.where} is corrupt: array {key!r} of shape {shape} and dtype {dtype} needs {size} bytes, "
                    f"but its member holds {info.file_size - stream.tell()}"
                )
        except BaseException:
            stream.close()
            raise
        return stream, shape, dtype, fortran_order

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """The shape and dtype member ``key`` declares, read without its data."""
        with damage_is_model_file_error(self.where):
            stream, shape, dtype, _ = self._open_header(key)
            stream.close()
        return shape, dtype

    def read(self, key: str) -> Array:
        """Member ``key`` as a new array: exactly the bytes its header declares, CRC-checked."""
        with damage_is_model_file_error(self.where):
            stream, shape, dtype, fortran_order = self._open_header(key)
            with stream:
                array = np.empty(shape, dtype, order="F" if fortran_order else "C")
                data = array.reshape(-1, order="A").view(np.uint8).data  # the array's own memory
                position = 0
                while position < len(data):
                    block = stream.read(min(READ_BLOCK, len(data) - position))
                    if not block:
                        raise ModelFileError(f"{self.where} is truncated: array {key!r} ends early")
                    data[position : position + len(block)] = block
                    position += len(block)
                if stream.read(1):  # also where zipfile checks the CRC of the whole member
                    raise ModelFileError(f"{self.where} is corrupt: array {key!r} has more data than its shape")
        return array


# -- writing ---------------------------------------------------------------------------------
def write_npz_atomically(path: Path, arrays: dict[str, Array]) -> None:
    """``np.savez`` into a temporary file next to ``path``, fsync, then ``os.replace``.

    On any error the temporary file is removed and ``path`` keeps its previous content.
    The file keeps the permissions of the one it replaces (a new one: 0666 less the umask).
    """
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a folder; give a file name such as model.npz")
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    with _terminate_as_exception():
        descriptor, temporary = _create_temporary(path)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]
                handle.flush()
                if mode is not None:
                    os.chmod(temporary, mode)
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new, empty file in ``path``'s folder, with a short name (``path``'s may be as long as
    the system allows) and the permissions a new file gets there (0666 less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.parent / f".refnet-save-{secrets.token_hex(8)}.tmp"
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue  # another save's name: draw again
        except OSError as exc:
            raise type(exc)(
                exc.errno, f"cannot save to {path}: cannot create a file in {path.parent} ({exc.strerror})"
            ) from exc


class _Terminated(BaseException):
    """SIGTERM arrived during a save (raised by the temporary handler, so cleanup runs)."""


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    """While saving, SIGTERM raises ``_Terminated`` instead of ending the process on the spot,
    so the temporary file is removed; then the signal is delivered again, as it was meant to be.

    Only when SIGTERM has its default action and this is the main thread (the only one that
    may set handlers): a program's own handler is left alone.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
