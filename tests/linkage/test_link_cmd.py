"""`tipdata link encode|match`: agencies encode locally, the linking party counts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tipdata.cli.link_cmd import identifiers_from_record, link_app
from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import DataKey
from tipdata.ledger import open_ledger
from tipdata.linkage.keys import SECRET_ENV_VAR, SECRET_FILE_ENV_VAR
from tipdata.records import CanonicalRecord, Envelope, record_id_for

SECRET = "cli test secret, long enough to keep"
T0 = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)
runner = CliRunner()


def canonical(system: str, source_id: str, values: dict, consent=("statistics", "service_referral")) -> dict:
    return {"envelope": {"record_id": record_id_for(system, source_id), "source_system": system,
                         "source_id": source_id, "collected_at": "2026-01-31T10:00:00+00:00",
                         "updated_at": "2026-01-31T10:00:00+00:00", "consent_purposes": list(consent)},
            "values": values}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def agency_files(tmp_path: Path) -> tuple[Path, Path]:
    ngo = write_jsonl(tmp_path / "ngo.jsonl", [
        canonical("kobo:ngo", "1", {"person_given_names": "Amina", "person_family_names": "Diallo",
                                    "person_date_of_birth": "1990-03-12", "person_sex": "female",
                                    "person_citizenship": ["SN"]}),
        canonical("kobo:ngo", "2", {"person_given_names": "Olena", "person_family_names": "Shevchenko",
                                    "person_date_of_birth": "1985-07-02", "person_sex": "female"}),
        canonical("kobo:ngo", "3", {"person_given_names": "Kofi", "person_family_names": "Mensah",
                                    "person_date_of_birth": "2003-01-20", "person_sex": "male"},
                  consent=("service_referral",)),
    ])
    police = write_jsonl(tmp_path / "police.jsonl", [
        canonical("dhis2:police", "a", {"person_given_names": "Diallo", "person_family_names": "Amina",
                                        "person_date_of_birth": "1990-07-01", "person_dob_estimated": "yes",
                                        "person_sex": "female"}),
        canonical("dhis2:police", "b", {"person_given_names": "Yaw", "person_family_names": "Boateng",
                                        "person_date_of_birth": "1999-04-04", "person_sex": "male"}),
    ])
    return ngo, police


def test_encode_then_match__prints_overlap_without_names(
        agency_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """should encode each agency's file without plaintext and count the shared person."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    ngo, police = agency_files
    for source, path in (("ngo", ngo), ("police", police)):
        done = runner.invoke(link_app, ["encode", "--records", str(path), "--out",
                                        str(tmp_path / f"{source}.enc.jsonl"), "--source", source])
        assert done.exit_code == 0, done.output
        assert "Amina" not in done.output
    encoded = (tmp_path / "ngo.enc.jsonl").read_text(encoding="utf-8")
    assert "Amina" not in encoded and "Diallo" not in encoded and "1990-03-12" not in encoded
    monkeypatch.delenv(SECRET_ENV_VAR)  # the linking party has no secret
    done = runner.invoke(link_app, ["match", str(tmp_path / "ngo.enc.jsonl"),
                                    str(tmp_path / "police.enc.jsonl"), "--out", str(tmp_path / "result.json")])
    assert done.exit_code == 0, done.output
    assert "ngo + police" in done.output and "Amina" not in done.output
    stats = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))["stats"]
    assert f"thresholds in force: {stats['threshold_across']:.3f} between agencies" in done.output
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    overlap = {"+".join(o["sources"]): o["persons"] for o in result["overlap"]}
    assert overlap == {"ngo": 1, "police": 1, "ngo+police": 1}
    assert result["records_per_source"] == {"ngo": 2, "police": 2}


def test_encode__skips_records_without_consent(agency_files: tuple[Path, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """should encode only records whose person consented to the purpose, and say how many not."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    out = tmp_path / "ngo.enc.jsonl"
    done = runner.invoke(link_app, ["encode", "--records", str(agency_files[0]), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "skipped 1 record(s) without consent to 'statistics'" in done.output
    header = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert header["records"] == 2 and header["source"] == "kobo:ngo"
    done = runner.invoke(link_app, ["encode", "--records", str(agency_files[0]), "--out", str(out),
                                    "--purpose", "service_referral"])
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["records"] == 3


def test_encode__without_secret_says_where_to_put_it(agency_files: tuple[Path, Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """should exit 1 naming the variables when no secret is set."""
    monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV_VAR, raising=False)
    done = runner.invoke(link_app, ["encode", "--records", str(agency_files[0]), "--out",
                                    str(tmp_path / "x.jsonl")])
    assert done.exit_code == 1
    assert SECRET_ENV_VAR in done.output and not (tmp_path / "x.jsonl").exists()


def test_encode__bad_record_line_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """should name the file and line of a record it cannot read, without its contents."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(canonical("kobo:x", "1", {})) + "\n{\"values\": {\"person_given_names\": \"Amina\"}}\n",
                   encoding="utf-8")
    done = runner.invoke(link_app, ["encode", "--records", str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert done.exit_code == 1 and "line 2" in done.output and "Amina" not in done.output


def test_match__different_secrets_refused(agency_files: tuple[Path, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """should refuse encodings made with different secrets, naming the fix."""
    ngo, police = agency_files
    for source, path, secret in (("ngo", ngo, SECRET), ("police", police, SECRET + " but other")):
        monkeypatch.setenv(SECRET_ENV_VAR, secret)
        runner.invoke(link_app, ["encode", "--records", str(path), "--out", str(tmp_path / f"{source}.enc"),
                                 "--source", source])
    done = runner.invoke(link_app, ["match", str(tmp_path / "ngo.enc"), str(tmp_path / "police.enc"),
                                    "--out", str(tmp_path / "r.json")])
    assert done.exit_code == 1 and "another secret" in done.output and "Fix:" in done.output


def test_identifiers_from_record__reads_codebook_elements() -> None:
    """should take the person elements and treat an estimated date as year-only."""
    envelope, person = identifiers_from_record(canonical("kobo:x", "9", {
        "person_given_names": "Ana", "person_family_names": "Lopez", "person_date_of_birth": "1990-07-01",
        "person_dob_estimated": "yes", "person_sex": "female", "person_citizenship": ["MX"]}))
    normalised = person.normalised()
    assert person.record_id == envelope.record_id
    assert normalised.names == "ana lopez" and normalised.date_of_birth.precision == "year"
    assert normalised.citizenship == "mx"


# --- encoding straight from the ledger ---------------------------------------------------------

NGO_SYSTEM, POLICE_SYSTEM = "kobo:ngoAsset", "dhis2:police"


def ledger_record(system: str, source_id: str, values: dict, *, form: str = "tip_case_intake",
                  consent: tuple[str, ...] = ("statistics", "service_referral")) -> CanonicalRecord:
    envelope = Envelope(record_id=record_id_for(system, source_id), source_system=system, source_id=source_id,
                        form_id=form, collected_at=T0, updated_at=T0, consent_purposes=frozenset(consent))
    return CanonicalRecord(envelope=envelope, values=values)


@pytest.fixture
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An encrypted SQLite ledger holding two agencies' records, a referral and a record without consent."""
    monkeypatch.setenv("TIPDATA_LEDGER_KEY", DataKey.generate().to_base64())
    monkeypatch.delenv("TIPDATA_LEDGER_KEY_FILE", raising=False)
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    path = tmp_path / "ledger.sqlite"
    ledger = open_ledger(str(path), codebook=load_codebook())
    try:
        with ledger.transaction() as tx:
            tx.upsert_records([
                ledger_record(NGO_SYSTEM, "1", {"person_given_names": "Amina", "person_family_names": "Diallo",
                                                "person_date_of_birth": dt.date(1990, 3, 12), "person_sex": "female",
                                                "person_citizenship": ("SN",), "person_id_document_number": "A1234567"}),
                ledger_record(NGO_SYSTEM, "2", {"person_given_names": "Olena", "person_family_names": "Shevchenko",
                                                "person_date_of_birth": dt.date(1985, 7, 2), "person_sex": "female"}),
                ledger_record(NGO_SYSTEM, "3", {"person_given_names": "Kofi", "person_family_names": "Mensah",
                                                "person_sex": "male"}, consent=("service_referral",)),
                ledger_record(NGO_SYSTEM, "4", {"ref_date": dt.date(2026, 1, 5), "svc_case_reference": "TIP-1"},
                              form="tip_referral"),
                ledger_record(POLICE_SYSTEM, "a", {"person_given_names": "DIALLO", "person_family_names": "Amina",
                                                   "person_date_of_birth": dt.date(1990, 12, 3), "person_sex": "female"}),
                ledger_record(POLICE_SYSTEM, "b", {"person_given_names": "Yaw", "person_family_names": "Boateng",
                                                   "person_date_of_birth": dt.date(1999, 4, 4), "person_sex": "male"}),
            ])
    finally:
        ledger.close()
    return path


def test_encode__from_the_ledger_one_file_per_source_system(ledger_path: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """should encode each source system of the ledger as one agency, skipping records without
    consent or identifiers, print counts only, and let the linking party count the overlap."""
    folder = tmp_path / "encodings"
    done = runner.invoke(link_app, ["encode", "--ledger", str(ledger_path), "--per-system", "--out", str(folder)])
    assert done.exit_code == 0, done.output
    assert "skipped 1 record(s) without consent" in done.output
    assert "skipped 1 record(s) holding no identifier" in done.output
    assert "Amina" not in done.output and "Diallo" not in done.output
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["dhis2_police.enc.jsonl", "kobo_ngoAsset.enc.jsonl"]
    headers = {json.loads(f.read_text(encoding="utf-8").splitlines()[0])["source"]: f for f in files}
    assert set(headers) == {NGO_SYSTEM, POLICE_SYSTEM}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "Amina" not in text and "diallo" not in text.lower() and "A1234567" not in text
    monkeypatch.delenv(SECRET_ENV_VAR)
    done = runner.invoke(link_app, ["match", *map(str, files), "--out", str(tmp_path / "result.json"), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result["records_per_source"] == {POLICE_SYSTEM: 2, NGO_SYSTEM: 2}
    assert {"+".join(o["sources"]): o["persons"] for o in result["overlap"]} == {
        POLICE_SYSTEM: 1, NGO_SYSTEM: 1, f"{POLICE_SYSTEM}+{NGO_SYSTEM}": 1}


def test_encode__from_the_ledger_several_systems_need_a_choice(ledger_path: Path, tmp_path: Path) -> None:
    """should refuse to mix source systems into one file unless told how, naming the options."""
    out = tmp_path / "all.enc.jsonl"
    done = runner.invoke(link_app, ["encode", "--ledger", str(ledger_path), "--out", str(out)])
    assert done.exit_code == 1 and not out.exists()
    assert "2 source systems" in done.output and "--system" in done.output and "--per-system" in done.output
    done = runner.invoke(link_app, ["encode", "--ledger", str(ledger_path), "--out", str(out), "--system",
                                    POLICE_SYSTEM, "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["files"][0]["source"] == POLICE_SYSTEM and summary["files"][0]["records"] == 2
    assert summary["skipped"]["other_systems"] == 4
    done = runner.invoke(link_app, ["encode", "--ledger", str(ledger_path), "--out", str(out), "--source",
                                    "task force", "--purpose", "service_referral"])
    assert done.exit_code == 0, done.output
    header = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert header["source"] == "task force" and header["records"] == 5


def test_encode__ledger_named_by_tipdata_toml(ledger_path: Path, tmp_path: Path) -> None:
    """should read the ledger tipdata.toml names when neither --records nor --ledger is given."""
    config = tmp_path / "tipdata.toml"
    config.write_text(f'[ledger]\nurl = "{ledger_path.name}"\n', encoding="utf-8")
    out = tmp_path / "ngo.enc.jsonl"
    done = runner.invoke(link_app, ["encode", "--config", str(config), "--system", NGO_SYSTEM, "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["records"] == 2


def test_encode__missing_ledger_or_two_inputs_refused(agency_files: tuple[Path, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """should refuse a ledger path that does not exist (creating nothing) and --records with --ledger."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    missing = tmp_path / "nope.sqlite"
    done = runner.invoke(link_app, ["encode", "--ledger", str(missing), "--out", str(tmp_path / "o.jsonl")])
    assert done.exit_code == 1 and "no ledger" in done.output and not missing.exists()
    done = runner.invoke(link_app, ["encode", "--ledger", str(missing), "--records", str(agency_files[0]),
                                    "--out", str(tmp_path / "o.jsonl")])
    assert done.exit_code == 2
