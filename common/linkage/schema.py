"""Linkage schemas in the clkhash v3 linkage-schema format, read into typed settings.

Agencies must encode with the same schema and secret, or their Bloom filters share nothing. The
schema is data (JSON) rather than code so it can be agreed once, shipped to every agency and
compared by fingerprint; tipdata reads the format clkhash (Data61/CSIRO anonlink) published as
`linkage-schema-v3.json`, so encodings can be checked against clkhash and its tools.

The format, in short:

    {"version": 3,
     "clkConfig": {"l": 1024, "xorFolds": 0,
                   "kdf": {"type": "HKDF", "hash": "SHA256", "salt": "<base64>",
                           "info": "<base64>", "keySize": 64}},
     "features": [{"identifier": "...", "format": {"type": "string" | "integer" | "date" | "enum", ...},
                   "hashing": {"comparison": {"type": "ngram", "n": 2, "positional": false}
                                             | {"type": "exact"}
                                             | {"type": "numeric", "thresholdDistance": .., "resolution": ..},
                               "strategy": {"bitsPerToken": k} | {"bitsPerFeature": n},
                               "hash": {"type": "doubleHash", "prevent_singularity": bool}
                                       | {"type": "blakeHash"},
                               "missingValue": {"sentinel": "", "replaceWith": ".."}}}
                  | {"identifier": "...", "ignored": true}]}

Feature identifiers name what tipdata puts in the feature (see `tipdata.linkage.encoding`):
`person_names`, `person_birth_year`, `person_sex`, ... . Features are positional: the order
in the schema is the order of the keys derived for them, so reordering features changes every
encoding.

One deviation to know about: the v3 master schema names the fold count `xorFolds`, while
clkhash 0.18.3 reads `xor_folds` and ignores `xorFolds`. tipdata reads both (`xorFolds` first);
a schema that folds should write `xor_folds` to get the same encodings from both tools. The
shipped schema does not fold.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SUPPORTED_VERSION = 3
DEFAULT_KEY_SIZE = 64
KDF_HASHES = ("SHA256", "SHA512")
STRING_ENCODINGS = ("ascii", "utf-8", "utf-16", "utf-32")
DEFAULT_SCHEMA_RESOURCE = "default_schema.json"


class SchemaInvalid(ValueError):
    """The linkage schema breaks the v3 format; carries every problem found, not only the first."""

    def __init__(self, problems: list[str], source: str = "<schema>") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: the linkage schema has {len(problems)} problem(s):\n{lines}\n"
                         "Fix: correct the schema (clkhash linkage-schema v3 format) and make sure "
                         "every agency uses the same file.")


@dataclass(frozen=True)
class Comparison:
    """How a feature's value becomes tokens: n-grams, the whole value, or a numeric neighbourhood."""

    type: str  # ngram | exact | numeric
    n: int = 2
    positional: bool = False
    threshold_distance: float = 0.0
    resolution: int = 0
    fractional_precision: int = 0


@dataclass(frozen=True)
class FeatureHashing:
    comparison: Comparison
    strategy: str  # bitsPerToken | bitsPerFeature
    strategy_value: int
    hash_type: str = "blakeHash"  # the format's default
    prevent_singularity: bool = False
    missing_sentinel: str | None = None
    missing_replacement: str | None = None

    def bits_per_token(self, token_count: int) -> list[int]:
        """How often each of `token_count` tokens is inserted into the filter."""
        if self.strategy == "bitsPerToken":
            return [self.strategy_value] * token_count
        base, extra = divmod(self.strategy_value, token_count)
        return [base + 1] * extra + [base] * (token_count - extra)


@dataclass(frozen=True)
class Feature:
    identifier: str
    ignored: bool = False
    format_type: str = "string"
    encoding: str = "utf-8"
    pattern: re.Pattern[str] | None = None
    case: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    date_format: str | None = None
    enum_values: frozenset[str] = frozenset()
    hashing: FeatureHashing | None = None


@dataclass(frozen=True)
class LinkageSchema:
    """A parsed v3 linkage schema; `fingerprint` identifies it across agencies."""

    l: int  # noqa: E741 - the format's own name for the filter length
    xor_folds: int
    kdf_hash: str
    kdf_salt: bytes | None
    kdf_info: bytes | None
    kdf_key_size: int
    features: tuple[Feature, ...]
    fingerprint: str
    source: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def hash_length(self) -> int:
        """Bits hashed into before XOR folding."""
        return self.l * 2 ** self.xor_folds

    def hashed_features(self) -> list[tuple[int, Feature]]:
        return [(i, f) for i, f in enumerate(self.features) if not f.ignored]


def schema_fingerprint(document: Mapping[str, Any]) -> str:
    """SHA-256 of the schema's canonical JSON, so whitespace and key order do not matter."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _b64(value: Any, where: str, problems: list[str]) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{where} must be a base64 string")
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        problems.append(f"{where} is not valid base64")
        return None


def _int(value: Any, where: str, problems: list[str], minimum: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{where} must be an integer")
        return None
    if minimum is not None and value < minimum:
        problems.append(f"{where} must be at least {minimum}")
        return None
    return value


def _parse_comparison(raw: Any, where: str, problems: list[str]) -> Comparison | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where} must be an object with a type (ngram, exact or numeric)")
        return None
    kind = raw.get("type")
    if kind == "ngram":
        n = _int(raw.get("n"), f"{where}.n", problems, minimum=1)
        positional = raw.get("positional", False)
        if not isinstance(positional, bool):
            problems.append(f"{where}.positional must be true or false")
        return None if n is None else Comparison("ngram", n=n, positional=bool(positional))
    if kind == "exact":
        return Comparison("exact")
    if kind == "numeric":
        distance = raw.get("thresholdDistance")
        resolution = _int(raw.get("resolution"), f"{where}.resolution", problems, minimum=1)
        precision = _int(raw.get("fractional_precision", 0), f"{where}.fractional_precision",
                         problems, minimum=0)
        if isinstance(distance, bool) or not isinstance(distance, int | float) or distance <= 0:
            problems.append(f"{where}.thresholdDistance must be a number above 0")
            return None
        if resolution is None or precision is None:
            return None
        if int(round(distance * 10 ** precision)) == 0:
            problems.append(f"{where}: fractional_precision is too small for thresholdDistance")
            return None
        return Comparison("numeric", threshold_distance=float(distance), resolution=resolution,
                          fractional_precision=precision)
    problems.append(f"{where}.type must be ngram, exact or numeric (got {kind!r})")
    return None


def _parse_hashing(raw: Any, where: str, problems: list[str]) -> FeatureHashing | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where} must be an object with comparison and strategy")
        return None
    unknown = set(raw) - {"comparison", "strategy", "hash", "missingValue"}
    if unknown:
        problems.append(f"{where} has unknown keys {sorted(unknown)}")
    comparison = _parse_comparison(raw.get("comparison"), f"{where}.comparison", problems)
    strategy_raw = raw.get("strategy")
    strategy, strategy_value = None, None
    if isinstance(strategy_raw, Mapping) and len(strategy_raw) == 1 and (
            "bitsPerToken" in strategy_raw or "bitsPerFeature" in strategy_raw):
        strategy = next(iter(strategy_raw))
        strategy_value = _int(strategy_raw[strategy], f"{where}.strategy.{strategy}", problems,
                              minimum=1)
    else:
        problems.append(f"{where}.strategy must be {{\"bitsPerToken\": k}} or {{\"bitsPerFeature\": n}}")
    hash_raw = raw.get("hash", {"type": "blakeHash"})
    hash_type, prevent = "blakeHash", False
    if not isinstance(hash_raw, Mapping) or hash_raw.get("type") not in ("doubleHash", "blakeHash"):
        problems.append(f"{where}.hash.type must be doubleHash or blakeHash")
    else:
        hash_type = hash_raw["type"]
        if "prevent_singularity" in hash_raw:
            if hash_type != "doubleHash":
                problems.append(f"{where}.hash.prevent_singularity applies only to doubleHash")
            elif not isinstance(hash_raw["prevent_singularity"], bool):
                problems.append(f"{where}.hash.prevent_singularity must be true or false")
            else:
                prevent = hash_raw["prevent_singularity"]
    sentinel = replacement = None
    if "missingValue" in raw:
        missing = raw["missingValue"]
        if not isinstance(missing, Mapping) or not isinstance(missing.get("sentinel"), str):
            problems.append(f"{where}.missingValue needs a string sentinel")
        else:
            sentinel = missing["sentinel"]
            replacement = missing.get("replaceWith", sentinel)
            if not isinstance(replacement, str):
                problems.append(f"{where}.missingValue.replaceWith must be a string")
    if comparison is None or strategy is None or strategy_value is None:
        return None
    return FeatureHashing(comparison=comparison, strategy=strategy, strategy_value=strategy_value,
                          hash_type=hash_type, prevent_singularity=prevent,
                          missing_sentinel=sentinel, missing_replacement=replacement)


_FORMAT_KEYS = {
    "string": {"type", "encoding", "case", "minLength", "maxLength", "description", "pattern"},
    "integer": {"type", "minimum", "maximum", "description"},
    "date": {"type", "format", "description"},
    "enum": {"type", "values", "description"},
}


def _parse_feature(raw: Any, index: int, problems: list[str]) -> Feature | None:
    where = f"features[{index}]"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("identifier"), str):
        problems.append(f"{where} must be an object with a string identifier")
        return None
    identifier = raw["identifier"]
    where = f"features[{index}] ({identifier})"
    if raw.get("ignored") is True:
        extra = set(raw) - {"identifier", "ignored", "description"}
        if extra:
            problems.append(f"{where}: an ignored feature takes only identifier and description")
        return Feature(identifier=identifier, ignored=True)
    fmt = raw.get("format")
    if not isinstance(fmt, Mapping) or fmt.get("type") not in _FORMAT_KEYS:
        problems.append(f"{where}.format.type must be string, integer, date or enum")
        return None
    kind = fmt["type"]
    unknown = set(fmt) - _FORMAT_KEYS[kind]
    if unknown:
        problems.append(f"{where}.format has keys the {kind} format does not allow: {sorted(unknown)}")
    hashing = _parse_hashing(raw.get("hashing"), f"{where}.hashing", problems)
    values: dict[str, Any] = {"identifier": identifier, "format_type": kind, "hashing": hashing}
    if kind == "string":
        encoding = fmt.get("encoding", "utf-8")
        if encoding not in STRING_ENCODINGS:
            problems.append(f"{where}.format.encoding must be one of {', '.join(STRING_ENCODINGS)}")
        values["encoding"] = encoding
        if "pattern" in fmt:
            if set(fmt) & {"case", "minLength", "maxLength"}:
                problems.append(f"{where}.format: a pattern excludes case, minLength and maxLength")
            try:
                values["pattern"] = re.compile(str(fmt["pattern"]))
            except re.error:
                problems.append(f"{where}.format.pattern is not a valid regular expression")
        else:
            case = fmt.get("case", "mixed")
            if case not in ("upper", "lower", "mixed"):
                problems.append(f"{where}.format.case must be upper, lower or mixed")
            values["case"] = case
            if "minLength" in fmt:
                values["min_length"] = _int(fmt["minLength"], f"{where}.format.minLength", problems, 0)
            if "maxLength" in fmt:
                values["max_length"] = _int(fmt["maxLength"], f"{where}.format.maxLength", problems, 1)
    elif kind == "integer":
        for key, attr in (("minimum", "minimum"), ("maximum", "maximum")):
            if key in fmt:
                values[attr] = _int(fmt[key], f"{where}.format.{key}", problems)
    elif kind == "date":
        if not isinstance(fmt.get("format"), str):
            problems.append(f"{where}.format.format must be a strptime format such as %Y-%m-%d")
        values["date_format"] = fmt.get("format")
    else:
        enum = fmt.get("values")
        if not isinstance(enum, list) or not all(isinstance(v, str) for v in enum):
            problems.append(f"{where}.format.values must be a list of strings")
        else:
            values["enum_values"] = frozenset(enum)
    return Feature(**values)


def parse_schema(document: Mapping[str, Any], source: str = "<schema>") -> LinkageSchema:
    """Read and check a v3 linkage schema; raise `SchemaInvalid` listing every problem.

    >>> schema = parse_schema(load_schema_document())
    >>> schema.l, [f.identifier for f in schema.features][:1]
    (1024, ['person_names'])
    """
    problems: list[str] = []
    if not isinstance(document, Mapping):
        raise SchemaInvalid(["the schema must be a JSON object"], source)
    version = document.get("version")
    if version != SUPPORTED_VERSION:
        problems.append(f"version must be {SUPPORTED_VERSION} (got {version!r}); convert older "
                        "schemas to v3 first")
    config = document.get("clkConfig")
    length, folds, kdf_hash, salt, info, key_size = None, 0, "SHA256", None, None, DEFAULT_KEY_SIZE
    if not isinstance(config, Mapping):
        problems.append("clkConfig must be an object with l and kdf")
    else:
        length = _int(config.get("l"), "clkConfig.l", problems, minimum=1)
        raw_folds = config.get("xorFolds", config.get("xor_folds", 0))
        folds = _int(raw_folds, "clkConfig.xorFolds", problems, minimum=0) or 0
        kdf = config.get("kdf")
        if not isinstance(kdf, Mapping) or kdf.get("type") != "HKDF":
            problems.append("clkConfig.kdf.type must be HKDF")
        else:
            kdf_hash = kdf.get("hash", "SHA256")
            if kdf_hash not in KDF_HASHES:
                problems.append("clkConfig.kdf.hash must be SHA256 or SHA512")
            salt = _b64(kdf.get("salt"), "clkConfig.kdf.salt", problems)
            info = _b64(kdf.get("info"), "clkConfig.kdf.info", problems)
            key_size = _int(kdf.get("keySize", DEFAULT_KEY_SIZE), "clkConfig.kdf.keySize",
                            problems, minimum=1) or DEFAULT_KEY_SIZE
    raw_features = document.get("features")
    features: list[Feature] = []
    if not isinstance(raw_features, list) or not raw_features:
        problems.append("features must be a non-empty list")
    else:
        for index, raw in enumerate(raw_features):
            feature = _parse_feature(raw, index, problems)
            if feature is not None:
                features.append(feature)
        if not any(not f.ignored for f in features):
            problems.append("at least one feature must be hashed (not ignored)")
        if len({f.identifier for f in features}) != len(features):
            problems.append("feature identifiers must be unique")
    if length is not None:
        hash_length = length * 2 ** folds
        uses_blake = any(f.hashing and f.hashing.hash_type == "blakeHash" for f in features)
        if uses_blake and hash_length & (hash_length - 1):
            problems.append("blakeHash needs l × 2^xorFolds to be a power of two")
        if uses_blake and key_size > 64:
            problems.append("blakeHash keys are at most 64 bytes: set clkConfig.kdf.keySize ≤ 64")
    if problems or length is None:
        raise SchemaInvalid(problems or ["clkConfig.l is missing"], source)
    return LinkageSchema(l=length, xor_folds=folds, kdf_hash=kdf_hash, kdf_salt=salt, kdf_info=info,
                         kdf_key_size=key_size, features=tuple(features),
                         fingerprint=schema_fingerprint(document), source=dict(document))


def load_schema_document(path: Path | str | None = None) -> dict[str, Any]:
    """The schema JSON from `path`, or the default schema shipped with tipdata."""
    if path is None:
        text = resources.files("tipdata.linkage").joinpath(DEFAULT_SCHEMA_RESOURCE).read_text("utf-8")
        return json.loads(text)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaInvalid([f"not valid JSON (line {exc.lineno}, column {exc.colno})"],
                            str(path)) from None


def load_schema(path: Path | str | None = None) -> LinkageSchema:
    """Parse the schema at `path`, or the shipped default (`default_schema.json`).

    >>> load_schema().fingerprint == load_schema().fingerprint
    True
    """
    return parse_schema(load_schema_document(path), str(path) if path else DEFAULT_SCHEMA_RESOURCE)
