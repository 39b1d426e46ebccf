"""Where CFB is imported from: `decrepit` on cryptography >= 47, the primitives module before."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cryptography


def run_python(code: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *options, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_odk_encryption__imports_cleanly_with_warnings_as_errors() -> None:
    """Importing and using the module should raise no deprecation warning (`-W error`)."""
    result = run_python(
        """
        from tipdata.kobo_forms import odk_encryption as oe
        key = bytes(32)
        iv = oe.submission_file_iv("uuid:x", key, 0)
        assert oe.decrypt_file_content(key, iv, oe.encrypt_file_content(key, iv, b"abc")) == b"abc"
        print(oe.CFB.__module__)
        """,
        "-W",
        "error",
    )
    assert result.returncode == 0, result.stderr
    major = int(cryptography.__version__.split(".")[0])
    if major >= 47:
        assert "decrepit" in result.stdout


def test_odk_encryption__falls_back_to_primitives_cfb_without_decrepit() -> None:
    """With no `decrepit` CFB (cryptography <= 46) the primitives CFB should be used and work."""
    result = run_python(
        """
        import sys, types, warnings
        warnings.simplefilter("ignore")  # the old location warns on 47+
        # Load the primitives first (on 47+ they import decrepit themselves), then hide decrepit's
        # CFB while our module is imported, as on cryptography <= 46; cryptography itself needs
        # the real module back afterwards to run a cipher.
        from cryptography.hazmat.primitives.ciphers import modes as primitive_modes
        name = "cryptography.hazmat.decrepit.ciphers.modes"
        real = sys.modules.get(name)
        sys.modules[name] = types.ModuleType(name)  # no CFB in it: the import must fall back
        from tipdata.kobo_forms import odk_encryption as oe
        if real is not None:
            sys.modules[name] = real
        else:
            del sys.modules[name]
        assert oe.CFB is primitive_modes.CFB, oe.CFB
        key = bytes(range(32))
        iv = oe.submission_file_iv("uuid:x", key, 3)
        ciphertext = oe.encrypt_file_content(key, iv, b"x" * 33)
        assert oe.decrypt_file_content(key, iv, ciphertext) == b"x" * 33
        print("fallback ok")
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "fallback ok" in result.stdout
