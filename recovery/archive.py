"""The backup archive format: framed plaintext -> zstd -> chunked AES-256-GCM, written and read as streams.

File layout::

    MAGIC | header length (u32) | header JSON            clear, but authenticated (see below)
    chunk*: final flag (u8) | length (u32) | AES-256-GCM ciphertext with its 16-byte tag

Every chunk is encrypted with a key derived for this file alone (HKDF-SHA256 of BACKUP_ENCRYPTION_KEY
with the header's random salt), so the deterministic nonce ``chunk index (u64) | final flag (u32)``
never repeats under one key. The associated data of every chunk is the SHA-256 of magic and header plus
the chunk's index and final flag: a changed header, a flipped bit, reordered or dropped chunks, a cut
after any chunk, or data after the final chunk are all refused. The header names the key by its
fingerprint, so a wrong key is reported as such before anything is decrypted.

Inside, the zstd-compressed plaintext is a sequence of frames ``type (1 byte) | length (u32) | body``:
``S`` section start (JSON: name, columns), ``D`` data (PostgreSQL COPY text rows, whole rows only),
``E`` section end (JSON: rows, sha256 of its data), and last ``M``, the manifest (JSON), which holds
the SHA-256 of every frame before it. Nothing here knows about Django or the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"ORDERPLATFORM-BACKUP\x00\x01"
FORMAT = 1
CHUNK_BYTES = 1 << 20
DATA_FRAME_BYTES = 256 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_CHUNK_BYTES = CHUNK_BYTES + 1024
ZSTD_LEVEL = 3
_CHUNK_HEAD = struct.Struct(">BI")
_FRAME_HEAD = struct.Struct(">cI")

SECTION, DATA, END, MANIFEST = b"S", b"D", b"E", b"M"


class ArchiveError(Exception):
    """The archive cannot be trusted or read; the message says why."""


class WrongKey(ArchiveError):
    pass


class Tampered(ArchiveError):
    pass


class Truncated(ArchiveError):
    pass


# --- the encrypted, compressed stream ------------------------------------------------------------


def _file_key(key: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"order-platform backup v1").derive(key)


def _chunk_nonce_and_aad(header_digest: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    position = struct.pack(">QI", index, int(final))
    return position, header_digest + position


class Sink(Protocol):
    """Where an archive is written: a binary file, or a wrapper that hashes what passes through."""

    def write(self, data: bytes, /) -> int: ...


class ArchiveWriter:
    """Write frames to ``sink``: compressed, encrypted in chunks. ``close()`` writes the final chunk."""

    def __init__(self, sink: Sink, *, key: bytes, key_id: str, header: dict[str, Any]) -> None:
        salt = os.urandom(32)
        header = {
            **header,
            "format": FORMAT,
            "cipher": "AES-256-GCM",
            "compression": "zstd",
            "key_id": key_id,
            "salt": salt.hex(),
        }
        header_bytes = json.dumps(header, sort_keys=True).encode()
        sink.write(MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes)
        self.header = header
        self._sink = sink
        self._digest = hashlib.sha256(MAGIC + header_bytes).digest()
        self._aead = AESGCM(_file_key(key, salt))
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
        self._pending = bytearray()
        self._index = 0
        self.plaintext_sha256 = hashlib.sha256()

    def frame(self, kind: bytes, body: bytes) -> None:
        framed = _FRAME_HEAD.pack(kind, len(body)) + body
        if kind != MANIFEST:
            self.plaintext_sha256.update(framed)
        self._pending += self._compressor.compress(framed)
        while len(self._pending) >= CHUNK_BYTES:
            self._emit(bytes(self._pending[:CHUNK_BYTES]), final=False)
            del self._pending[:CHUNK_BYTES]

    def close(self) -> None:
        self._pending += self._compressor.flush()
        while len(self._pending) > CHUNK_BYTES:
            self._emit(bytes(self._pending[:CHUNK_BYTES]), final=False)
            del self._pending[:CHUNK_BYTES]
        self._emit(bytes(self._pending), final=True)
        self._pending.clear()

    def _emit(self, plaintext: bytes, *, final: bool) -> None:
        nonce, aad = _chunk_nonce_and_aad(self._digest, self._index, final)
        ciphertext = self._aead.encrypt(nonce, plaintext, aad)
        self._sink.write(_CHUNK_HEAD.pack(int(final), len(ciphertext)) + ciphertext)
        self._index += 1


def read_header(source: BinaryIO) -> tuple[dict[str, Any], bytes]:
    """The archive's clear header and its digest (authenticated later, by every chunk)."""
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        if len(magic) < len(MAGIC) and MAGIC.startswith(magic):
            raise Truncated("the archive is truncated: it ends inside its header")
        raise ArchiveError("not a backup archive of this platform (unknown file signature)")
    (length,) = struct.unpack(">I", _read_exactly(source, 4, "header"))
    if length > MAX_HEADER_BYTES:
        raise Tampered("the archive header is implausibly large: the file is corrupted")
    header_bytes = _read_exactly(source, length, "header")
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise Tampered("the archive header is not readable: the file is corrupted") from None
    if header.get("format") != FORMAT:
        raise ArchiveError(
            f"unsupported archive format {header.get('format')!r} (this version reads {FORMAT})"
        )
    return header, hashlib.sha256(MAGIC + header_bytes).digest()


def decrypted_chunks(source: BinaryIO, *, key: bytes, key_id: str) -> Iterator[bytes]:
    """The decrypted, still compressed chunks, each authenticated before it is yielded."""
    header, digest = read_header(source)
    if header.get("key_id") != key_id:
        raise WrongKey(
            f"the archive was encrypted with another key (key id {header.get('key_id')}; "
            f"BACKUP_ENCRYPTION_KEY has key id {key_id})"
        )
    try:
        aead = AESGCM(_file_key(key, bytes.fromhex(header["salt"])))
    except (KeyError, ValueError, TypeError):
        raise Tampered("the archive header is damaged (salt)") from None
    index = 0
    while True:
        head = source.read(_CHUNK_HEAD.size)
        if len(head) < _CHUNK_HEAD.size:
            raise Truncated(f"the archive is truncated: it ends after chunk {index} without its final chunk")
        final, length = _CHUNK_HEAD.unpack(head)
        if final not in (0, 1) or length > MAX_CHUNK_BYTES:
            raise Tampered(f"chunk {index} of the archive is damaged")
        ciphertext = _read_exactly(source, length, f"chunk {index}")
        nonce, aad = _chunk_nonce_and_aad(digest, index, bool(final))
        try:
            plaintext = aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise Tampered(
                f"chunk {index} of the archive failed authentication: the file was modified or damaged"
            ) from None
        yield plaintext
        index += 1
        if final:
            if source.read(1):
                raise Tampered("the archive has data after its final chunk")
            return


def _read_exactly(source: BinaryIO, count: int, what: str) -> bytes:
    data = source.read(count)
    if len(data) != count:
        raise Truncated(f"the archive is truncated: it ends inside {what}")
    return data


# --- frames and sections -----------------------------------------------------------------------


@dataclass
class Section:
    """One table's rows as they stream past; ``rows`` and ``sha256`` are checked at its end frame."""

    name: str
    columns: list[str]
    meta: dict[str, Any]
    _reader: ArchiveReader = field(repr=False)
    rows: int = 0
    done: bool = False

    def blocks(self) -> Iterator[bytes]:
        """The section's COPY data, block by block; must be read to the end (or ``skip``-ped)."""
        digest = hashlib.sha256()
        for kind, body in self._reader._frames:
            if kind == DATA:
                digest.update(body)
                self.rows += body.count(b"\n")
                yield body
            elif kind == END:
                end = _json(body, "section end")
                if end.get("name") != self.name or end.get("rows") != self.rows:
                    raise Tampered(
                        f"section {self.name}: {self.rows} rows read, the archive says {end.get('rows')}"
                    )
                if end.get("sha256") != digest.hexdigest():
                    raise Tampered(f"section {self.name}: checksum mismatch")
                self._reader.tables[self.name] = {"rows": self.rows, "sha256": digest.hexdigest()}
                self.done = True
                return
            else:
                raise Tampered(f"section {self.name} is not closed before the next one")
        raise Truncated(f"the archive ends inside section {self.name}")

    def skip(self) -> None:
        for _ in self.blocks():
            pass


class ArchiveReader:
    """Read an archive's sections in order; ``manifest`` is set, and every checksum verified, at the end."""

    def __init__(self, source: BinaryIO, *, key: bytes, key_id: str) -> None:
        self._chunks = decrypted_chunks(source, key=key, key_id=key_id)
        self._frames = self._read_frames()
        self._plaintext = hashlib.sha256()
        self.tables: dict[str, dict[str, Any]] = {}
        self.manifest: dict[str, Any] | None = None

    def sections(self) -> Iterator[Section]:
        for kind, body in self._frames:
            if kind == SECTION:
                start = _json(body, "section start")
                section = Section(start["name"], list(start["columns"]), start.get("meta", {}), self)
                yield section
                if not section.done:
                    section.skip()
            elif kind == MANIFEST:
                for _ in self._frames:  # reads to the end of the file, which checks the final chunk
                    raise Tampered("the archive has frames after its manifest")
                manifest = _json(body, "manifest")
                self._verify(manifest)
                self.manifest = manifest
                return
            else:
                raise Tampered("unexpected frame outside a section")
        raise Truncated("the archive ends without its manifest")

    def _verify(self, manifest: dict[str, Any]) -> None:
        if manifest.get("sha256") != self._plaintext.hexdigest():
            raise Tampered("the archive's content does not match the SHA-256 in its manifest")
        expected = {name: dict(info) for name, info in manifest.get("tables", {}).items()}
        if expected != self.tables:
            raise Tampered("the archive's tables or row counts do not match its manifest")

    def _read_frames(self) -> Iterator[tuple[bytes, bytes]]:
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        buffer = bytearray()
        for chunk in self._chunks:
            try:
                buffer += decompressor.decompress(chunk)
            except zstandard.ZstdError:
                raise Tampered("the archive's compressed content is damaged") from None
            while len(buffer) >= _FRAME_HEAD.size:
                kind, length = _FRAME_HEAD.unpack_from(buffer)
                end = _FRAME_HEAD.size + length
                if len(buffer) < end:
                    break
                framed = bytes(buffer[:end])
                del buffer[:end]
                if kind != MANIFEST:
                    self._plaintext.update(framed)
                yield kind, framed[_FRAME_HEAD.size :]
        if buffer:
            raise Truncated("the archive ends inside a frame")


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise Tampered(f"the archive's {what} is not readable") from None
    if not isinstance(value, dict):
        raise Tampered(f"the archive's {what} is not readable")
    return value


class SectionWriter:
    """Frames one section: start, data blocks of whole rows, end with its row count and checksum."""

    def __init__(
        self, writer: ArchiveWriter, name: str, columns: list[str], meta: dict[str, Any] | None = None
    ):
        self._writer, self.name = writer, name
        self._digest = hashlib.sha256()
        self._pending = bytearray()
        self.rows = 0
        writer.frame(SECTION, json.dumps({"name": name, "columns": columns, "meta": meta or {}}).encode())

    def write_rows(self, data: bytes) -> None:
        """Whole COPY text rows (each ending in a newline)."""
        self._pending += data
        if len(self._pending) >= DATA_FRAME_BYTES:
            self._flush()

    def close(self) -> dict[str, Any]:
        self._flush()
        info = {"rows": self.rows, "sha256": self._digest.hexdigest()}
        self._writer.frame(END, json.dumps({"name": self.name, **info}).encode())
        return info

    def _flush(self) -> None:
        if self._pending:
            block = bytes(self._pending)
            self._pending.clear()
            self._digest.update(block)
            self.rows += block.count(b"\n")
            self._writer.frame(DATA, block)
