"""Cross-check tipdata's CLK encoder against clkhash (the reference for the v3 linkage schema).

clkhash pins old `cryptography` and `bitarray`, so it lives in its own virtual environment, never
in tipdata's:

    python -m venv /tmp/clkvenv && /tmp/clkvenv/bin/pip install clkhash==0.18.3
    python bench/linkage_clkhash_crosscheck.py --clkhash-python /tmp/clkvenv/bin/python

For the shipped schema and a schema that uses every option of the format (blakeHash,
bitsPerFeature, positional n-grams, exact, numeric, integer and date formats, missing-value
replacement, UTF-16, XOR folding), it encodes synthetic records and edge cases with tipdata and
with clkhash (same secret, same feature values) and prints how many encodings are identical.
`--write-vectors FILE` stores a few of clkhash's encodings as known-answer vectors for the tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import subprocess
import sys
from pathlib import Path

from tipdata.linkage.bloom import ClkEncoder
from tipdata.linkage.encoding import feature_values
from tipdata.linkage.schema import load_schema_document, parse_schema
from tipdata.linkage.synthetic import make_person, reregister

SECRET = "cross-check secret, not for real data"


def _feature(identifier: str, fmt: dict, comparison: dict, strategy: dict, hash_: dict,
             missing: dict | None = None) -> dict:
    hashing = {"comparison": comparison, "strategy": strategy, "hash": hash_}
    if missing is not None:
        hashing["missingValue"] = missing
    return {"identifier": identifier, "format": fmt, "hashing": hashing}


def variety_schema() -> dict:
    """Every option of the v3 format that tipdata implements."""
    return {
        "version": 3,
        "clkConfig": {"l": 512, "xor_folds": 1,
                      "kdf": {"type": "HKDF", "hash": "SHA512",
                              "salt": base64.b64encode(b"cross-check salt").decode(),
                              "info": base64.b64encode(b"cross-check info").decode(), "keySize": 64}},
        "features": [
            {"identifier": "record_id", "ignored": True},
            _feature("person_names", {"type": "string", "encoding": "utf-8"},
                     {"type": "ngram", "n": 2}, {"bitsPerFeature": 150}, {"type": "blakeHash"},
                     {"sentinel": ""}),
            _feature("person_given_names", {"type": "string", "encoding": "utf-16"},
                     {"type": "ngram", "n": 3, "positional": True}, {"bitsPerToken": 7},
                     {"type": "doubleHash"}, {"sentinel": "", "replaceWith": "unknown"}),
            _feature("person_family_names", {"type": "string", "encoding": "utf-8", "case": "lower"},
                     {"type": "ngram", "n": 1}, {"bitsPerToken": 9},
                     {"type": "doubleHash", "prevent_singularity": True}, {"sentinel": ""}),
            _feature("person_birth_year", {"type": "integer", "minimum": 1800, "maximum": 2200},
                     {"type": "numeric", "thresholdDistance": 3, "resolution": 2},
                     {"bitsPerToken": 6}, {"type": "blakeHash"}, {"sentinel": ""}),
            _feature("person_date_of_birth", {"type": "date", "format": "%Y%m%d"},
                     {"type": "ngram", "n": 2, "positional": True}, {"bitsPerToken": 8},
                     {"type": "doubleHash", "prevent_singularity": False}, {"sentinel": ""}),
            _feature("person_sex", {"type": "enum", "values": ["f", "m", "x"]}, {"type": "exact"},
                     {"bitsPerToken": 40}, {"type": "blakeHash"}, {"sentinel": ""}),
        ],
    }


def sample_rows(schema_document: dict, count: int) -> list[list[str]]:
    """Feature values (strings, schema order) of synthetic people, re-registrations and edge cases."""
    schema = parse_schema(schema_document)
    rng = random.Random(11)
    people = []
    for i in range(count):
        person = make_person(rng, f"r{i}")
        people.append(reregister(rng, person, f"s{i}") if i % 3 == 0 else person)
    rows = [feature_values(schema, p.normalised()) for p in people]
    dob = [i for i, f in enumerate(schema.features) if f.identifier == "person_date_of_birth"]
    if dob and schema.features[dob[0]].format_type == "date":  # a date format needs full dates
        rows = [r for r in rows if len(r[dob[0]]) in (0, 8)]
    blank = ["" for _ in schema.features]
    unicode_row = list(rows[0])
    for i, f in enumerate(schema.features):
        if f.identifier == "person_names":
            unicode_row[i] = "zoë ñandú 李小龙"
    return rows + [blank, unicode_row]


def tipdata_clks(schema_document: dict, rows: list[list[str]]) -> list[str]:
    encoder = ClkEncoder(parse_schema(schema_document), SECRET.encode())
    return [base64.b64encode(encoder.encode(row)).decode() for row in rows]


CLKHASH_PROGRAM = """
import json, sys
from clkhash import clk, schema
from clkhash.serialization import serialize_bitarray
job = json.load(sys.stdin)
result = {}
for name, item in job.items():
    parsed = schema.from_json_dict(item["schema"])
    clks = clk.generate_clks(item["rows"], parsed, item["secret"], max_workers=1)
    result[name] = [serialize_bitarray(c) for c in clks]
json.dump(result, sys.stdout)
"""


def clkhash_clks(python: str, job: dict) -> dict[str, list[str]]:
    completed = subprocess.run([python, "-c", CLKHASH_PROGRAM], input=json.dumps(job), text=True,
                               capture_output=True, check=False)
    if completed.returncode:
        sys.exit(f"clkhash failed (exit {completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clkhash-python", default="/tmp/clkvenv/bin/python",
                        help="Python of the virtual environment where clkhash is installed.")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--write-vectors", type=Path, help="Store known-answer vectors here (JSON).")
    args = parser.parse_args()
    schemas = {"default": load_schema_document(), "variety": variety_schema()}
    job, ours = {}, {}
    for name, document in schemas.items():
        rows = sample_rows(document, args.records)
        job[name] = {"schema": document, "rows": rows, "secret": SECRET}
        ours[name] = tipdata_clks(document, rows)
    theirs = clkhash_clks(args.clkhash_python, job)
    for name in schemas:
        same = sum(a == b for a, b in zip(ours[name], theirs[name], strict=True))
        print(f"{name:>8} schema: {same} of {len(ours[name])} encodings identical to clkhash's")
    if args.write_vectors:
        vectors = {name: {"schema": job[name]["schema"], "secret": SECRET,
                          "rows": job[name]["rows"][:3] + job[name]["rows"][-2:],
                          "clks": theirs[name][:3] + theirs[name][-2:]} for name in schemas}
        args.write_vectors.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
        print(f"wrote known-answer vectors from clkhash to {args.write_vectors}")


if __name__ == "__main__":
    main()
