"""The key value format: shape, checksum, hint, digest and finding keys in text."""

from __future__ import annotations

import hashlib
import hmac
import zlib

from qbraid_keys_ext.service import keyformat


def test_generate_has_shape_and_valid_checksum():
    values = {keyformat.generate() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        assert keyformat.KEY_PATTERN.fullmatch(value)
        assert keyformat.is_well_formed(value)
        assert keyformat.has_valid_checksum(value)
        body = value[4:60]
        assert value[60:] == f"{zlib.crc32(body.encode('ascii')):08x}"


def test_checksum_is_zero_padded():
    body = "0" * 56
    crc = f"{zlib.crc32(body.encode()):08x}"
    assert keyformat.has_valid_checksum("qbr_" + body + crc)
    # find a body whose CRC has a leading zero to prove padding is required
    for i in range(10_000):
        body = f"{i:056x}"
        crc = zlib.crc32(body.encode())
        if crc < 0x10000000:
            assert keyformat.has_valid_checksum(f"qbr_{body}{crc:08x}")
            assert not keyformat.is_well_formed(f"qbr_{body}{crc:x}")
            break
    else:  # pragma: no cover
        raise AssertionError("no small CRC found")


def test_bad_shapes_and_checksums():
    value = keyformat.generate()
    flipped = value[:-1] + ("0" if value[-1] != "0" else "1")
    assert keyformat.is_well_formed(flipped)
    assert not keyformat.has_valid_checksum(flipped)
    for bad in ["", "qbr_", value.upper(), value[:-1], value + "0", " " + value, "qbx" + value[3:]]:
        assert not keyformat.is_well_formed(bad)
        assert not keyformat.has_valid_checksum(bad)
    assert not keyformat.is_well_formed(None)
    assert not keyformat.has_valid_checksum(12)


def test_hint():
    value = "qbr_3f9a" + "1" * 52 + "c0de"
    assert keyformat.hint(value) == "qbr_3f9a\u2026c0de"


def test_digest_sha256_and_hmac():
    value = keyformat.generate()
    assert keyformat.digest(value) == hashlib.sha256(value.encode()).hexdigest()
    assert (
        keyformat.digest(value, b"pepper")
        == hmac.new(b"pepper", value.encode(), hashlib.sha256).hexdigest()
    )
    assert value not in keyformat.digest(value)


def test_find_valid_keys_in_text():
    a, b = keyformat.generate(), keyformat.generate()
    fake = a[:-1] + ("0" if a[-1] != "0" else "1")
    text = f"token={a}\nbad={fake} and '{b}'. also qbr_1234 and {a}"
    assert keyformat.find_valid_keys(text) == [a, b, a]
    assert keyformat.find_valid_keys("nothing here") == []
