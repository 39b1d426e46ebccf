"""`tipdata keys …`: create the key pair that encrypts submissions on the device.

Only prints paths and the public key; the private key never reaches the terminal. The
passphrase comes from `TIPDATA_KEY_PASSPHRASE` or a hidden prompt, never from an option (which
would land in shell history and process listings).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tipdata.crypto.keys import (
    ALLOWED_KEY_SIZES,
    DEFAULT_KEY_NAME,
    DEFAULT_KEY_SIZE,
    PASSPHRASE_ENV_VAR,
    KeyFileError,
    generate_key_files,
)

MIN_RECOMMENDED_PASSPHRASE_LENGTH = 12

keys_app = typer.Typer(
    help="Create and manage the RSA key pair for encrypted Kobo/ODK forms.",
    no_args_is_help=True,
)


def read_passphrase(env_var: str = PASSPHRASE_ENV_VAR, *, confirm: bool) -> bytes:
    """The passphrase from `env_var` if set and non-empty, else from a hidden prompt.

    Example: `passphrase = read_passphrase(confirm=True)`
    """
    from_env = os.environ.get(env_var, "")
    if from_env:
        return from_env.encode("utf-8")
    entered = typer.prompt(
        f"Key passphrase (or set {env_var})",
        hide_input=True,
        confirmation_prompt=confirm,
    )
    return entered.encode("utf-8")


@keys_app.command("generate")
def generate_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir",
            metavar="DIR",
            help="Folder for <name>-private.pem (0600, encrypted) and <name>-public.pem.",
            file_okay=False,
        ),
    ],
    bits: Annotated[
        int, typer.Option("--bits", help="RSA key size: 2048 or 3072.")
    ] = DEFAULT_KEY_SIZE,
    name: Annotated[
        str, typer.Option("--name", help="File name prefix for the two PEM files.")
    ] = DEFAULT_KEY_NAME,
) -> None:
    """Generate an RSA key pair and print the value for XLSForm `settings.public_key`.

    The passphrase is read from TIPDATA_KEY_PASSPHRASE or asked for (hidden, twice).
    """
    if bits not in ALLOWED_KEY_SIZES:
        allowed = " or ".join(str(size) for size in ALLOWED_KEY_SIZES)
        raise typer.BadParameter(f"{bits} is not supported; use {allowed}", param_hint="--bits")
    passphrase = read_passphrase(confirm=True)
    if not passphrase:
        typer.echo("Error: an empty passphrase cannot protect the private key.", err=True)
        raise typer.Exit(2)
    if len(passphrase.decode("utf-8")) < MIN_RECOMMENDED_PASSPHRASE_LENGTH:
        typer.echo(
            f"Warning: passphrase is shorter than {MIN_RECOMMENDED_PASSPHRASE_LENGTH} "
            "characters; anyone who copies the key file can try to guess it.",
            err=True,
        )
    try:
        files = generate_key_files(out_dir, passphrase, bits=bits, name=name)
    except (KeyFileError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"Error: cannot write keys to {out_dir} ({exc.strerror}).", err=True)
        raise typer.Exit(2) from None

    # typer.echo rather than rich: the base64 line must stay one unwrapped line to copy.
    typer.echo(
        f"Private key: {files.private_key_path} "
        f"({files.bits}-bit RSA, passphrase-protected, mode 0600)"
    )
    typer.echo(f"Public key:  {files.public_key_path}")
    typer.echo("XLSForm settings.public_key (set settings.submission_url too):")
    typer.echo(files.public_key_base64)
    typer.echo(
        "Keep the private key and its passphrase off the Kobo server and out of the form; "
        "lose either and no submission can be decrypted."
    )
