"""Loading a ``.bin``'s pickle without trusting it.

A pickle is a program: its globals are called and its opcodes declare how much to allocate. So
only the globals insightface's format needs are admitted, each checked as numpy itself calls it
(``pickle.dumps`` of arrays and numpy scalars, protocols 2 to 5, numpy 1's ``numpy.core`` or
numpy 2's ``numpy._core``), and no opcode gets memory the file does not back: CPython's
unpickler allocates a declared length before reading it (``BINBYTES8`` of 2**40 is a bare
``MemoryError``), and a memo index before storing it, so the opcodes are walked first.
Everything refused is a ``pickle.UnpicklingError`` saying what and where.
"""

from __future__ import annotations

import os
import pickle
import pickletools
from typing import BinaryIO

import numpy as np

#: numpy's reconstruction functions, as its own pickles reach them (no private import).
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.empty(0).__reduce_ex__(5)[0]
#: Kinds of ``numpy.dtype`` the format holds: booleans, integers, floats and Python objects.
_DTYPE_KINDS = "biufO"
#: Opcodes that store into the memo at an index they name (``MEMOIZE`` takes the next free one).
_MEMO_STORES = {"PUT", "BINPUT", "LONG_BINPUT"}


def load_restricted(handle: BinaryIO) -> object:
    """The object pickled in ``handle`` (a file), loaded as ``pickle.load(encoding="bytes")``
    would (Python 2's ``str`` as bytes) when it holds only what the format admits."""
    _check_opcodes(handle, os.fstat(handle.fileno()).st_size)
    handle.seek(0)
    return _FormatUnpickler(handle, encoding="bytes").load()


class _ArrayType:
    """Stands for ``numpy.ndarray``, which pickles name only as ``_reconstruct``'s first argument:
    called itself, it would allocate any shape it is given."""

    __slots__ = ()  # nothing for a pickle's BUILD to set

    def __call__(self, *args: object) -> None:
        raise pickle.UnpicklingError("numpy.ndarray called: it is only _reconstruct's argument")


_NDARRAY = _ArrayType()


def _reconstruct(subtype: object, shape: object, dtype_code: object) -> np.ndarray:
    """numpy's pickles make an empty array here, then ``__setstate__`` sizes it from its data."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError(f"numpy's _reconstruct of a {type(subtype).__name__}, not an array")
    if shape != (0,):
        raise pickle.UnpicklingError(
            f"numpy's _reconstruct with shape {shape!r}: numpy pickles an array as shape (0,)"
        )
    return _RECONSTRUCT(np.ndarray, (0,), dtype_code)


def _scalar(dtype: np.dtype, data: object = None) -> object:
    return _SCALAR(_checked(dtype), data)


def _frombuffer(buffer: object, dtype: np.dtype, shape: tuple[int, ...], order: str) -> np.ndarray:
    return _FROMBUFFER(buffer, _checked(dtype), shape, order)


def _dtype(spec: object, align: object = False, copy: object = True) -> np.dtype:
    """``numpy.dtype`` of a kind and size (``"u1"``, ``"b1"``, ``"O8"``): no structures, no void."""
    text = spec.decode("latin1") if isinstance(spec, bytes) else spec  # Python 2 pickles: bytes
    if not (isinstance(text, str) and text[:1] in _DTYPE_KINDS and text[1:].isdigit()):
        raise pickle.UnpicklingError(
            f"numpy.dtype({spec!r}): the format holds booleans, numbers and objects only"
        )
    return np.dtype(text, bool(align), bool(copy))


def _checked(dtype: object) -> np.dtype:
    if not (isinstance(dtype, np.dtype) and dtype.kind in _DTYPE_KINDS and dtype.shape == ()):
        raise pickle.UnpicklingError(f"a numpy value of {dtype!r}, which the format never holds")
    return dtype


def _latin1(text: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode(text, "latin1")``: how protocol 2 pickles bytes (any other codec is a
    decompressor or worse)."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(
            f"_codecs.encode to {encoding!r}: protocol 2 encodes bytes as latin1 text only"
        )
    return text.encode("latin1")


#: The globals the format needs, under numpy 1's and numpy 2's module names.
_ADMITTED: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
}


class _FormatUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ADMITTED:
            return _ADMITTED[(module, name)]
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which the format never holds")


class _Overrun(pickle.UnpicklingError):
    def __init__(self, needed: int, remaining: int) -> None:
        super().__init__(needed, remaining)
        self.needed, self.remaining = needed, remaining


class _Bounded:
    """``handle``, whose reads refuse more than the file holds before anything is allocated."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle, self.size = handle, size

    def read(self, count: int) -> bytes:
        if count > self.remaining():
            raise _Overrun(count, self.remaining())
        return self.handle.read(count)

    def readline(self) -> bytes:
        return self.handle.readline()

    def tell(self) -> int:
        return self.handle.tell()

    def remaining(self) -> int:
        return self.size - self.handle.tell()


def _check_opcodes(handle: BinaryIO, size: int) -> None:
    """Walk the opcodes (``pickletools`` reads each argument through ``_Bounded``) and refuse,
    naming the opcode's offset, a length beyond the end of the file (a frame's too: the unpickler
    reads a frame whole) or a memo index beyond the objects made so far."""
    stream = _Bounded(handle, size)
    position = 0
    try:
        for count, (opcode, argument, _) in enumerate(pickletools.genops(stream)):
            if opcode.name == "FRAME" and argument > stream.remaining():
                raise _Overrun(argument, stream.remaining())
            if opcode.name in _MEMO_STORES and argument > count:
                raise pickle.UnpicklingError(
                    f"the opcode at byte {position} stores memo entry {argument}, "
                    f"but only {count} opcodes precede it"
                )
            position = stream.tell()
    except _Overrun as overrun:
        raise pickle.UnpicklingError(
            f"the opcode at byte {position} needs {overrun.needed} bytes, "
            f"but only {overrun.remaining} remain in the file"
        ) from None
    except ValueError as error:  # pickletools' own: an unknown opcode, no STOP, a bad argument
        raise pickle.UnpicklingError(str(error)) from None
