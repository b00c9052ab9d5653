"""The archive format on its own (no database): round trip, and every kind of damage refused."""

from __future__ import annotations

import io
import os
import struct

import pytest

from recovery import archive
from recovery.archive import ArchiveReader, ArchiveWriter, SectionWriter, Tampered, Truncated, WrongKey

KEY = os.urandom(32)
KEY_ID = "key-a"
ROWS = [f'{i}\tcustomer {i}\t{{"n": {i}}}\n'.encode() for i in range(40_000)]


def write(rows: list[bytes] = ROWS, *, key: bytes = KEY) -> bytes:
    sink = io.BytesIO()
    writer = ArchiveWriter(sink, key=key, key_id=KEY_ID, header={"kind": "full"})
    section = SectionWriter(writer, "things", ["id", "name", "data"])
    for row in rows:
        section.write_rows(row)
    tables = {"things": section.close()}
    manifest = {"tables": tables, "sha256": writer.plaintext_sha256.hexdigest()}
    writer.frame(archive.MANIFEST, archive.json.dumps(manifest).encode())
    writer.close()
    return sink.getvalue()


def read(data: bytes, *, key: bytes = KEY, key_id: str = KEY_ID) -> tuple[bytes, dict]:
    reader = ArchiveReader(io.BytesIO(data), key=key, key_id=key_id)
    content = b"".join(block for section in reader.sections() for block in section.blocks())
    assert reader.manifest is not None
    return content, reader.manifest


def chunk_offsets(data: bytes) -> list[int]:
    """Where each encrypted chunk starts."""
    (header_length,) = struct.unpack(">I", data[len(archive.MAGIC) : len(archive.MAGIC) + 4])
    offset, offsets = len(archive.MAGIC) + 4 + header_length, []
    while offset < len(data):
        offsets.append(offset)
        _, length = struct.unpack(">BI", data[offset : offset + 5])
        offset += 5 + length
    return offsets


def test_what_is_written_reads_back_with_its_manifest() -> None:
    data = write()
    content, manifest = read(data)
    assert content == b"".join(ROWS)
    assert manifest["tables"]["things"]["rows"] == len(ROWS)
    assert b"customer 123" not in data  # compressed and encrypted


def test_a_large_archive_has_several_chunks_and_a_small_one_at_least_one() -> None:
    big = [os.urandom(1000).hex().encode() + b"\n" for _ in range(3000)]  # incompressible: ~6 MB
    assert len(chunk_offsets(write(big))) > 3
    assert len(chunk_offsets(write([]))) == 1
    assert read(write([]))[0] == b""


def test_a_wrong_key_is_named_as_such() -> None:
    with pytest.raises(WrongKey, match="another key"):
        read(write(), key_id="key-b")


def test_the_right_key_id_with_the_wrong_key_fails_authentication() -> None:
    with pytest.raises(Tampered, match=r"chunk 0 .* failed authentication"):
        read(write(), key=os.urandom(32))


@pytest.mark.parametrize("where", ["header", "first chunk", "last byte"])
def test_a_flipped_byte_anywhere_is_refused(where: str) -> None:
    data = bytearray(write())
    offset = {"header": len(archive.MAGIC) + 10, "first chunk": chunk_offsets(bytes(data))[0] + 40}.get(
        where, len(data) - 1
    )
    data[offset] ^= 0x01
    with pytest.raises(Tampered):
        read(bytes(data))


def test_an_archive_cut_at_a_chunk_boundary_is_truncated() -> None:
    big = [os.urandom(1000).hex().encode() + b"\n" for _ in range(3000)]
    data = write(big)
    with pytest.raises(Truncated, match="without its final chunk"):
        read(data[: chunk_offsets(data)[-1]])


def test_an_archive_cut_anywhere_else_is_truncated() -> None:
    data = write()
    for cut in (5, len(archive.MAGIC) + 20, len(data) // 2, len(data) - 3):
        with pytest.raises(Truncated):
            read(data[:cut])


def test_swapped_chunks_and_trailing_data_are_refused() -> None:
    big = [os.urandom(1000).hex().encode() + b"\n" for _ in range(3000)]
    data = write(big)
    first, second, third = chunk_offsets(data)[:3]
    swapped = data[:first] + data[second:third] + data[first:second] + data[third:]
    with pytest.raises(Tampered, match="chunk 0"):
        read(swapped)
    with pytest.raises(Tampered, match="after its final chunk"):
        read(data + b"\x00")


def test_not_an_archive_at_all() -> None:
    with pytest.raises(archive.ArchiveError, match="not a backup archive"):
        read(b"PK\x03\x04 a zip file, say")
