"""Privacy-preserving record linkage: count unique victims across agencies without sharing names.

Each agency encodes its own records (`encode_records`) with a secret the agencies share; only
the encodings — exact keys (HMAC-SHA-256) and Bloom filters (CLKs in the clkhash v3 linkage-
schema format) — go to the linking party, who matches them (`match_batches`) into persons and
counts how many each agency saw and how many they share (`LinkageResult.overlap_rows`).

    from tipdata.linkage import PersonIdentifiers, encode_records, load_schema, linkage_secret
    batch = encode_records(people, linkage_secret(), load_schema(), source="ngo")
    batch.write("ngo.enc.jsonl")
    ...
    from tipdata.linkage import load_batch, match_batches
    result = match_batches([load_batch("ngo.enc.jsonl"), load_batch("police.enc.jsonl")])

Modules: `normalise` (plaintext → comparable text), `keys` (exact keys), `schema` and `bloom`
(CLKs), `encoding` (what an agency shares), `blocking`, `filters` (Dice over the field groups
both records hold), `matching`, `clustering` (what the linking party does), `evaluation` and
`synthetic` (accuracy and test data).
"""

from tipdata.linkage.encoding import (
    EncodedBatch,
    EncodedRecord,
    PersonIdentifiers,
    encode_records,
    load_batch,
    read_batch,
)
from tipdata.linkage.keys import ExactKeyer, linkage_secret, secret_check
from tipdata.linkage.matching import LinkageResult, MatchSettings, match_batches
from tipdata.linkage.normalise import NormalisedPerson, normalise_person
from tipdata.linkage.schema import LinkageSchema, SchemaInvalid, load_schema, parse_schema

__all__ = [
    "EncodedBatch", "EncodedRecord", "ExactKeyer", "LinkageResult", "LinkageSchema",
    "MatchSettings", "NormalisedPerson", "PersonIdentifiers", "SchemaInvalid", "encode_records",
    "linkage_secret", "load_batch", "load_schema", "match_batches", "normalise_person",
    "parse_schema", "read_batch", "secret_check",
]
