"""Bloom-filter encodings (CLKs) of identifiers, following the clkhash v3 linkage-schema format.

A cryptographic long-term key (CLK, Schnell, Bachteler & Reiher 2011) is one Bloom filter per
record into which every feature's tokens (name bigrams, date bigrams, the sex code) are hashed
with keyed hash functions. Two spellings of a name share most bigrams, so their filters share
most bits and the Dice coefficient of the filters approximates the similarity of the plaintext,
while the filters themselves cannot be read back without the secret.

What tipdata does, step by step, as the format defines it (so an encoding equals clkhash's for
the same schema, secret and feature values):
  1. keys: HKDF (RFC 5869; hash, salt, info and key size from `clkConfig.kdf`) expands the shared
     secret into 2 keys per feature, ignored features included, in schema order;
  2. value: a missing-value sentinel is replaced; integers are written without sign or padding;
     dates are re-written as YYYYMMDD; strings are used as given (tipdata normalises before);
  3. tokens: n-grams padded with n-1 spaces each side (optionally positional, "3 ab"), the whole
     value (exact), or a numeric neighbourhood (numeric); an empty value has no tokens;
  4. bits: each token sets k bits (bitsPerToken, or bitsPerFeature shared over the tokens) in a
     filter of l × 2^xorFolds bits — doubleHash: g_i = (HMAC-SHA1(key1, t) + i·HMAC-MD5(key2, t))
     mod L, with `prevent_singularity` re-hashing a zero step; blakeHash: k 16-bit words of keyed
     BLAKE2b (salt "0", "1", ...) mod L;
  5. folding: the filter is XOR-folded xorFolds times; bit 0 is the most significant bit of the
     first byte (bitarray's big-endian order), and the bytes are base64-encoded for transport.

SHA-1 and MD5 are the format's choice for doubleHash and are used only inside HMAC, where their
collision weaknesses do not apply. Token positions are cached per key, since a population's
bigrams repeat endlessly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import struct
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipdata.linkage.schema import Comparison, Feature, LinkageSchema

KEYS_PER_FEATURE = 2
_KDF_HASHES = {"SHA256": hashes.SHA256, "SHA512": hashes.SHA512}


class InvalidFeatureValue(ValueError):
    """A value does not fit its feature's format; the message names the feature, never the value."""


def derive_feature_keys(secret: bytes, schema: LinkageSchema) -> list[tuple[bytes, bytes]]:
    """Two HKDF keys per feature (ignored features included), in schema order."""
    count = len(schema.features) * KEYS_PER_FEATURE
    size = schema.kdf_key_size
    material = HKDF(algorithm=_KDF_HASHES[schema.kdf_hash](), length=count * size,
                    salt=schema.kdf_salt, info=schema.kdf_info).derive(secret)
    keys = [material[i * size:(i + 1) * size] for i in range(count)]
    return [(keys[2 * i], keys[2 * i + 1]) for i in range(len(schema.features))]


# --- values and tokens ---------------------------------------------------------------------

def check_value(feature: Feature, value: str) -> None:
    """Raise `InvalidFeatureValue` if `value` breaks the feature's format (missing values pass)."""
    hashing = feature.hashing
    if hashing is not None and hashing.missing_sentinel is not None and value == hashing.missing_sentinel:
        return
    name = feature.identifier
    try:
        value.encode(feature.encoding)
    except UnicodeEncodeError:
        raise InvalidFeatureValue(f"feature {name}: a value cannot be written in {feature.encoding}") from None
    kind = feature.format_type
    if kind == "string":
        if feature.pattern is not None:
            if feature.pattern.fullmatch(value) is None:
                raise InvalidFeatureValue(f"feature {name}: a value does not match the schema's pattern")
            return
        if feature.min_length is not None and len(value) < feature.min_length:
            raise InvalidFeatureValue(f"feature {name}: a value is shorter than minLength {feature.min_length}")
        if feature.max_length is not None and len(value) > feature.max_length:
            raise InvalidFeatureValue(f"feature {name}: a value is longer than maxLength {feature.max_length}")
        if feature.case == "lower" and value.lower() != value:
            raise InvalidFeatureValue(f"feature {name}: a value is not lower case")
        if feature.case == "upper" and value.upper() != value:
            raise InvalidFeatureValue(f"feature {name}: a value is not upper case")
    elif kind == "integer":
        try:
            number = int(value, 10)
        except ValueError:
            raise InvalidFeatureValue(f"feature {name}: a value is not a whole number") from None
        if feature.minimum is not None and number < feature.minimum:
            raise InvalidFeatureValue(f"feature {name}: a value is below minimum {feature.minimum}")
        if feature.maximum is not None and number > feature.maximum:
            raise InvalidFeatureValue(f"feature {name}: a value is above maximum {feature.maximum}")
    elif kind == "date":
        try:
            dt.datetime.strptime(value, feature.date_format or "")
        except ValueError:
            raise InvalidFeatureValue(f"feature {name}: a value is not a date in {feature.date_format}") from None
    elif kind == "enum" and value not in feature.enum_values:
        raise InvalidFeatureValue(f"feature {name}: a value is not one of the schema's values")


def format_value(feature: Feature, value: str) -> str:
    """The text that is tokenised: sentinel replaced, integers and dates in one canonical form."""
    hashing = feature.hashing
    if hashing is not None and hashing.missing_sentinel is not None and value == hashing.missing_sentinel:
        return hashing.missing_replacement or ""
    if feature.format_type == "integer":
        return str(int(value, 10))
    if feature.format_type == "date":
        return dt.datetime.strptime(value, feature.date_format or "").strftime("%Y%m%d")
    return value


def tokenize(comparison: Comparison, text: str) -> list[str]:
    """Tokens of a formatted value; an empty value has none.

    >>> tokenize(Comparison("ngram", n=2), "ana")
    [' a', 'an', 'na', 'a ']
    """
    if not text:
        return []
    if comparison.type == "exact":
        return [text]
    if comparison.type == "ngram":
        n = comparison.n
        padded = " " * (n - 1) + text + " " * (n - 1) if n > 1 else text
        grams = [padded[i:i + n] for i in range(len(padded) - n + 1)]
        if comparison.positional:
            return [f"{i + 1} {gram}" for i, gram in enumerate(grams)]
        return grams
    return _numeric_tokens(comparison, text)


def _numeric_tokens(comparison: Comparison, text: str) -> list[str]:
    """A number's neighbourhood on a grid, so that close numbers share tokens (Vatsalan & Christen)."""
    precision = comparison.fractional_precision
    interval = int(round(comparison.threshold_distance * 10 ** precision))
    try:
        value = int(text, 10) * 10 ** precision
    except ValueError:
        number = float(text)
        value = int(round(number * 10 ** precision)) if precision > 0 else int(number)
    value *= 2 * comparison.resolution
    residue = value % interval
    if residue:
        value = value - residue if residue < interval / 2 else value + (interval - residue)
    return [str(value + i * interval) for i in range(-comparison.resolution, comparison.resolution + 1)]


# --- hashing tokens into bits --------------------------------------------------------------

def _double_hash_positions(token: bytes, k: int, length: int, key_sha1: bytes, key_md5: bytes,
                           prevent_singularity: bool) -> list[int]:
    first = int.from_bytes(hmac.digest(key_sha1, token, "sha1"), "big") % length
    step = int.from_bytes(hmac.digest(key_md5, token, "md5"), "big") % length
    if prevent_singularity:
        counter = 0
        while step == 0:
            step = int.from_bytes(hmac.digest(key_md5, token + chr(counter).encode(), "md5"), "big") % length
            counter += 1
    return [(first + i * step) % length for i in range(k)]


def _blake_positions(token: bytes, k: int, length: int, key: bytes) -> list[int]:
    words: list[int] = []
    for i in range((k + 31) // 32):
        digest = hashlib.blake2b(token, key=key, salt=str(i).encode()).digest()
        words.extend(struct.unpack("<32H", digest))
    return [words[i] % length for i in range(k)]


class FeatureEncoder:
    """Turns one feature's formatted text into a bit mask; caches each token's mask.

    The mask is a Python int whose bit (L-1-i) stands for filter position i, so `to_bytes(.., "big")`
    yields the format's byte layout directly.
    """

    def __init__(self, feature: Feature, keys: tuple[bytes, bytes], hash_length: int) -> None:
        assert feature.hashing is not None
        self.feature = feature
        self.hashing = feature.hashing
        self.keys = keys
        self.length = hash_length
        self._cache: dict[tuple[str, int], int] = {}

    def token_mask(self, token: str, k: int) -> int:
        cached = self._cache.get((token, k))
        if cached is not None:
            return cached
        data = token.encode(self.feature.encoding)
        if self.hashing.hash_type == "doubleHash":
            positions = _double_hash_positions(data, k, self.length, self.keys[0], self.keys[1],
                                               self.hashing.prevent_singularity)
        else:
            positions = _blake_positions(data, k, self.length, self.keys[0])
        top = self.length - 1
        mask = 0
        for position in positions:
            mask |= 1 << (top - position)
        if len(self._cache) < 1_000_000:
            self._cache[(token, k)] = mask
        return mask

    def mask(self, text: str) -> int:
        tokens = tokenize(self.hashing.comparison, text)
        if not tokens:
            return 0
        mask = 0
        for token, k in zip(tokens, self.hashing.bits_per_token(len(tokens)), strict=True):
            if k:
                mask |= self.token_mask(token, k)
        return mask


def fold_xor(mask: int, length: int, folds: int) -> int:
    """XOR the first half of the filter onto the second, `folds` times."""
    for _ in range(folds):
        length //= 2
        mask = (mask >> length) ^ (mask & ((1 << length) - 1))
    return mask


class ClkEncoder:
    """Encodes records (one text value per schema feature) into CLK bytes for one secret.

    Build it once per batch: key derivation and the token caches are shared by every record.

    >>> from tipdata.linkage.schema import load_schema
    >>> encoder = ClkEncoder(load_schema(), b"a shared secret, never in code")
    >>> len(encoder.encode(["ana lopez", "1990", "03", "12", "f", "", "", "", ""]))
    128
    """

    def __init__(self, schema: LinkageSchema, secret: bytes) -> None:
        if not secret:
            raise ValueError("the linkage secret is empty")
        self.schema = schema
        keys = derive_feature_keys(secret, schema)
        self._encoders: list[FeatureEncoder | None] = [
            None if f.ignored else FeatureEncoder(f, keys[i], schema.hash_length)
            for i, f in enumerate(schema.features)]

    def feature_masks(self, values: Sequence[str | None], *, validate: bool = True) -> list[int]:
        """Each feature's bits before folding (0 for ignored or missing features), in schema order.

        The CLK is their union (`to_bytes(OR of masks)`); the union of a subset is the CLK the
        same schema gives when the other features are marked ignored, which is how
        `tipdata.linkage.encoding` builds the filter of one group of fields.
        """
        schema = self.schema
        if len(values) != len(schema.features):
            raise ValueError(f"expected {len(schema.features)} feature values, got {len(values)}")
        masks = []
        for encoder, value in zip(self._encoders, values, strict=True):
            if encoder is None:
                masks.append(0)
                continue
            text = "" if value is None else value
            if validate:
                check_value(encoder.feature, text)
            masks.append(encoder.mask(format_value(encoder.feature, text)))
        return masks

    def to_bytes(self, mask: int) -> bytes:
        """A union of feature masks as filter bytes: XOR-folded, bit 0 first (clkhash's layout)."""
        schema = self.schema
        mask = fold_xor(mask, schema.hash_length, schema.xor_folds)
        return mask.to_bytes(math.ceil(schema.l / 8), "big") if schema.l % 8 == 0 \
            else (mask << (8 - schema.l % 8)).to_bytes(math.ceil(schema.l / 8), "big")

    def encode(self, values: Sequence[str | None], *, validate: bool = True) -> bytes:
        """CLK bytes (l/8 of them, rounded up) for one record's feature values, in schema order."""
        mask = 0
        for feature_mask in self.feature_masks(values, validate=validate):
            mask |= feature_mask
        return self.to_bytes(mask)
