"""`tipdata kobo decrypt` and `tipdata keys generate` through typer's CliRunner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from tipdata.cli.keys_cmd import keys_app
from tipdata.crypto.keys import load_private_key, public_key_base64, write_private_key
from tipdata.kobo_forms.decrypt_cmd import PROGRESS_THRESHOLD, decrypt_command
from tipdata.kobo_forms.odk_encryption import encrypt_submission, write_encrypted_submission

PASSPHRASE = "a long test passphrase"
SECRET = "SECRET-ANSWER-MARKER"
ENV = "TIPDATA_KEY_PASSPHRASE"


def cli() -> typer.Typer:
    """The sub-apps mounted the way the lead's main app mounts them."""
    app = typer.Typer()
    kobo_app = typer.Typer()
    kobo_app.command("decrypt")(decrypt_command)

    @kobo_app.callback()
    def kobo() -> None:
        """KoboToolbox."""

    app.add_typer(kobo_app, name="kobo")
    app.add_typer(keys_app, name="keys")
    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def protected_key(tmp_path: Path, private_key) -> Path:
    return write_private_key(private_key, tmp_path / "odk-private.pem", PASSPHRASE.encode())


@pytest.fixture
def plain_key(tmp_path: Path, private_key) -> Path:
    path = tmp_path / "plain.pem"
    path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def add_submission(directory: Path, public_key, instance_id: str, submission_xml, **media) -> Path:
    xml = submission_xml(instance_id, answers={"victim_name": SECRET})
    encrypted = encrypt_submission(
        public_key,
        form_id="aJ7sd2kqWcH5YbVfXe8mLp",
        version="3",
        instance_id=instance_id,
        submission_xml=xml,
        media=media,
    )
    return write_encrypted_submission(encrypted, directory)


def flip_byte(path: Path, position: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def mixed_inbox(tmp_path: Path, private_key, other_private_key, submission_xml) -> Path:
    """Three good submissions and four bad ones, laid out as Briefcase does."""
    inbox = tmp_path / "inbox"
    public = private_key.public_key()
    add_submission(inbox, public, "uuid:good-1", submission_xml)
    add_submission(inbox, public, "uuid:good-2", submission_xml, **{"photo.jpg": b"jpeg" * 50})
    add_submission(
        inbox, public, "uuid:good-3", submission_xml, **{"a.png": b"a" * 20, "b.m4a": b"b" * 33}
    )
    flipped = add_submission(inbox, public, "uuid:flipped-xml", submission_xml)
    flip_byte(flipped / "submission.xml.enc", 3)
    media = add_submission(
        inbox, public, "uuid:flipped-media", submission_xml, **{"photo.jpg": b"p" * 300}
    )
    flip_byte(media / "photo.jpg.enc", 40)
    missing = add_submission(
        inbox, public, "uuid:missing-media", submission_xml, **{"photo.jpg": b"p" * 30}
    )
    (missing / "photo.jpg.enc").unlink()
    add_submission(inbox, other_private_key.public_key(), "uuid:other-key", submission_xml)
    return inbox


def test_decrypt__mixed_inbox_writes_good_ones_and_names_each_failure(
    runner: CliRunner, mixed_inbox: Path, protected_key: Path, tmp_path: Path
) -> None:
    """Good submissions should be written, each bad one named with its file and reason, exit 1."""
    out = tmp_path / "out"
    result = runner.invoke(
        cli(),
        ["kobo", "decrypt", "--key", str(protected_key), str(mixed_inbox), "--out", str(out)],
        env={ENV: PASSPHRASE},
    )
    assert result.exit_code == 1, result.output

    assert sorted(p.name for p in out.iterdir()) == ["uuid:good-1", "uuid:good-2", "uuid:good-3"]
    assert SECRET.encode() in (out / "uuid:good-1" / "submission.xml").read_bytes()
    assert (out / "uuid:good-2" / "photo.jpg").read_bytes() == b"jpeg" * 50
    assert (out / "uuid:good-3" / "b.m4a").read_bytes() == b"b" * 33

    assert "Decrypted 3 of 7 submission(s)" in result.stdout
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failures) == 4
    by_folder = {line.split(":", 1)[0].removeprefix("FAILED "): line for line in failures}
    assert "signature_mismatch" in by_folder["uuidflipped-xml/"]
    assert "signature_mismatch" in by_folder["uuidflipped-media/"]
    assert "file_missing" in by_folder["uuidmissing-media/"]
    assert "photo.jpg.enc" in by_folder["uuidmissing-media/"]
    assert "wrong_key" in by_folder["uuidother-key/"]
    assert "uuid:other-key" in by_folder["uuidother-key/"]
    assert SECRET not in result.output


def test_decrypt__all_good_exits_0_with_owner_only_output(
    runner: CliRunner, tmp_path: Path, private_key, plain_key: Path, submission_xml
) -> None:
    """With every submission good the exit code should be 0 and output files 0600 in 0700 dirs."""
    inbox = tmp_path / "inbox"
    add_submission(inbox, private_key.public_key(), "uuid:one", submission_xml, **{"p.jpg": b"x"})
    out = tmp_path / "out"
    result = runner.invoke(
        cli(),
        ["kobo", "decrypt", "--key", str(plain_key), str(inbox), "--out", str(out)],
        env={ENV: None},
    )
    assert result.exit_code == 0, result.output
    folder = out / "uuid:one"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "submission.xml").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "p.jpg").stat().st_mode) == 0o600
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_decrypt__rerun_overwrites_the_same_output(
    runner: CliRunner, tmp_path: Path, private_key, plain_key: Path, submission_xml
) -> None:
    """Running twice into the same --out should succeed both times (idempotent)."""
    inbox = tmp_path / "inbox"
    add_submission(inbox, private_key.public_key(), "uuid:one", submission_xml)
    args = ["kobo", "decrypt", "--key", str(plain_key), str(inbox), "--out", str(tmp_path / "o")]
    assert runner.invoke(cli(), args).exit_code == 0
    assert runner.invoke(cli(), args).exit_code == 0


def test_decrypt__passphrase_prompt_when_env_is_unset(
    runner: CliRunner, tmp_path: Path, private_key, protected_key: Path, submission_xml
) -> None:
    """Without the env var the passphrase should be read from a hidden prompt."""
    inbox = tmp_path / "inbox"
    add_submission(inbox, private_key.public_key(), "uuid:one", submission_xml)
    result = runner.invoke(
        cli(),
        ["kobo", "decrypt", "--key", str(protected_key), str(inbox), "--out", str(tmp_path / "o")],
        env={ENV: None},
        input=PASSPHRASE + "\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSPHRASE not in result.output


def test_decrypt__wrong_passphrase_exits_2_naming_the_key_file(
    runner: CliRunner, mixed_inbox: Path, protected_key: Path, tmp_path: Path
) -> None:
    """A wrong passphrase should stop before decrypting, exit 2 and name the key file."""
    result = runner.invoke(
        cli(),
        [
            "kobo",
            "decrypt",
            "--key",
            str(protected_key),
            str(mixed_inbox),
            "--out",
            str(tmp_path / "o"),
        ],
        env={ENV: "wrong"},
    )
    assert result.exit_code == 2
    assert str(protected_key) in result.stderr
    assert "wrong passphrase" in result.stderr
    assert not (tmp_path / "o").exists()


def test_decrypt__custom_passphrase_env(
    runner: CliRunner, tmp_path: Path, private_key, protected_key: Path, submission_xml
) -> None:
    """`--passphrase-env` should name the variable to read."""
    inbox = tmp_path / "inbox"
    add_submission(inbox, private_key.public_key(), "uuid:one", submission_xml)
    result = runner.invoke(
        cli(),
        [
            "kobo",
            "decrypt",
            "--key",
            str(protected_key),
            str(inbox),
            "--out",
            str(tmp_path / "o"),
            "--passphrase-env",
            "ORG_KEY_PASS",
        ],
        env={ENV: None, "ORG_KEY_PASS": PASSPHRASE},
    )
    assert result.exit_code == 0, result.output


def test_decrypt__out_inside_input_is_refused(
    runner: CliRunner, mixed_inbox: Path, plain_key: Path
) -> None:
    """Writing plaintext into the download folder should be refused with exit 2."""
    result = runner.invoke(
        cli(),
        [
            "kobo",
            "decrypt",
            "--key",
            str(plain_key),
            str(mixed_inbox),
            "--out",
            str(mixed_inbox / "x"),
        ],
    )
    assert result.exit_code == 2
    assert "inside" in result.stderr


def test_decrypt__empty_folder_exits_1(runner: CliRunner, tmp_path: Path, plain_key: Path) -> None:
    """A folder without any submission.xml should say so and exit 1."""
    (tmp_path / "empty").mkdir()
    result = runner.invoke(
        cli(),
        [
            "kobo",
            "decrypt",
            "--key",
            str(plain_key),
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1
    assert "no submission.xml found" in result.stderr


def test_decrypt__many_submissions_draw_progress_and_all_decrypt(
    runner: CliRunner, tmp_path: Path, private_key, plain_key: Path, submission_xml
) -> None:
    """Past the progress threshold every submission should still be decrypted and counted."""
    inbox = tmp_path / "inbox"
    count = PROGRESS_THRESHOLD + 5
    for n in range(count):
        add_submission(inbox, private_key.public_key(), f"uuid:bulk-{n:03d}", submission_xml)
    out = tmp_path / "out"
    result = runner.invoke(
        cli(), ["kobo", "decrypt", "--key", str(plain_key), str(inbox), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"Decrypted {count} of {count} submission(s)" in result.stdout
    assert len(list(out.iterdir())) == count


def test_decrypt_command__is_callable_as_a_plain_function(
    tmp_path: Path, private_key, plain_key: Path, submission_xml
) -> None:
    """The command function should also work when called directly, as the lead may wire it."""
    inbox = tmp_path / "inbox"
    add_submission(inbox, private_key.public_key(), "uuid:one", submission_xml)
    decrypt_command(key=plain_key, directory=inbox, out=tmp_path / "o")
    assert (tmp_path / "o" / "uuid:one" / "submission.xml").is_file()


def test_keys_generate__env_passphrase_writes_pair_and_prints_public_key_only(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`keys generate` should write both files and print paths and the base64, never the key."""
    out_dir = tmp_path / "keys"
    previous = os.umask(0o022)
    try:
        result = runner.invoke(
            cli(), ["keys", "generate", "--out-dir", str(out_dir)], env={ENV: PASSPHRASE}
        )
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    private_path = out_dir / "odk-submissions-private.pem"
    public_path = out_dir / "odk-submissions-public.pem"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert str(private_path) in result.stdout and str(public_path) in result.stdout
    assert public_key_base64(public_path.read_bytes()) in result.stdout.splitlines()
    assert "PRIVATE KEY" not in result.output
    assert PASSPHRASE not in result.output
    assert load_private_key(private_path, PASSPHRASE.encode()).key_size == 2048


def test_keys_generate__prompts_twice_when_env_is_unset(runner: CliRunner, tmp_path: Path) -> None:
    """Without the env var the passphrase should be asked for, hidden, with confirmation."""
    result = runner.invoke(
        cli(),
        ["keys", "generate", "--out-dir", str(tmp_path), "--bits", "3072", "--name", "org"],
        env={ENV: None},
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
    )
    assert result.exit_code == 0, result.output
    key = load_private_key(tmp_path / "org-private.pem", PASSPHRASE.encode())
    assert key.key_size == 3072


def test_keys_generate__unsupported_bits_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    """Key sizes other than 2048/3072 should be refused as a usage error."""
    result = runner.invoke(
        cli(), ["keys", "generate", "--out-dir", str(tmp_path), "--bits", "1024"], env={ENV: "x"}
    )
    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())


def test_keys_generate__existing_files_exit_2_and_stay(runner: CliRunner, tmp_path: Path) -> None:
    """An existing key pair should never be overwritten."""
    args = ["keys", "generate", "--out-dir", str(tmp_path)]
    assert runner.invoke(cli(), args, env={ENV: PASSPHRASE}).exit_code == 0
    before = (tmp_path / "odk-submissions-private.pem").read_bytes()
    result = runner.invoke(cli(), args, env={ENV: PASSPHRASE})
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert (tmp_path / "odk-submissions-private.pem").read_bytes() == before


def test_decrypt__out_that_is_a_file_exits_2(
    runner: CliRunner, mixed_inbox: Path, plain_key: Path, tmp_path: Path, capsys
) -> None:
    """An --out path that is an existing file should be a usage error, not a traceback."""
    blocker = tmp_path / "out.txt"
    blocker.write_text("not a folder")
    result = runner.invoke(
        cli(),
        ["kobo", "decrypt", "--key", str(plain_key), str(mixed_inbox), "--out", str(blocker)],
    )
    assert result.exit_code == 2
    assert "--out" in result.stderr

    with pytest.raises(typer.Exit) as caught:  # called directly, without click's checks
        decrypt_command(key=plain_key, directory=mixed_inbox, out=blocker / "sub")
    assert caught.value.exit_code == 2
    assert "cannot create --out" in capsys.readouterr().err


def test_decrypt__duplicate_and_unsafe_instance_ids_are_not_written(
    runner: CliRunner, tmp_path: Path, private_key, plain_key: Path, submission_xml
) -> None:
    """A repeated instance id keeps the first copy; one that is no folder name is refused."""
    inbox = tmp_path / "inbox"
    add_submission(inbox / "a", private_key.public_key(), "uuid:same", submission_xml)
    add_submission(inbox / "b", private_key.public_key(), "uuid:same", submission_xml)
    hostile = encrypt_submission(
        private_key.public_key(),
        form_id="f",
        version="1",
        instance_id="uuid:../../escaped",
        submission_xml=b"<data/>",
    )
    folder = inbox / "hostile"
    folder.mkdir()
    (folder / "submission.xml").write_bytes(hostile.manifest_xml)
    for name, content in hostile.files.items():
        (folder / name).write_bytes(content)

    out = tmp_path / "deep" / "out"
    result = runner.invoke(
        cli(), ["kobo", "decrypt", "--key", str(plain_key), str(inbox), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert [p.name for p in out.iterdir()] == ["uuid:same"]
    assert "duplicate_instance_id" in result.stderr
    assert "unsafe_instance_id" in result.stderr
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()
