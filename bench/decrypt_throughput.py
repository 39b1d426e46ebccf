"""Decryption throughput for ODK encrypted submissions.

Generates N encrypted submissions (Briefcase layout, one folder each) with tipdata's encryptor in a
temporary folder, then times `decrypt_directory` over them and prints submissions per second and
the mean time per submission. Prints numbers only; asserts nothing.

    python bench/decrypt_throughput.py              # 2,000 submissions, 1 photo each
    python bench/decrypt_throughput.py -n 500 --media 3 --media-bytes 200000 --bits 3072
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from tipdata.crypto.keys import generate_private_key
from tipdata.kobo_forms.odk_encryption import (
    DecryptedSubmission,
    decrypt_directory,
    decrypt_submission_folder,
    encrypt_submission,
    write_encrypted_submission,
)


def submission_xml(instance_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<data xmlns:orx="http://openrosa.org/xforms" id="aJ7sd2kqWcH5YbVfXe8mLp" '
        'version="3 (2026-01-02 10:11:12)">'
        "<formhub><uuid>0a1b2c3d4e5f60718293a4b5c6d7e8f9</uuid></formhub>"
        "<screening><consent>yes</consent><age>17</age><recruitment>job_offer</recruitment>"
        "<movement_restricted>yes</movement_restricted><documents_held>yes</documents_held>"
        "<notes>Пример заметки — exemple de note — ملاحظة</notes></screening>"
        "<__version__>vQm8p2Xr5tYb3sLk9eWzHa</__version__>"
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=2000, help="submissions (2000)")
    parser.add_argument("--media", type=int, default=1, help="media files per submission (1)")
    parser.add_argument("--media-bytes", type=int, default=50_000, help="bytes per media (50000)")
    parser.add_argument("--bits", type=int, default=2048, choices=(2048, 3072), help="RSA size")
    args = parser.parse_args()

    private_key = generate_private_key(args.bits)
    public_key = private_key.public_key()
    with tempfile.TemporaryDirectory(prefix="tipdata-bench-") as temporary:
        inbox = Path(temporary) / "instances"
        started = time.perf_counter()
        for _ in range(args.count):
            instance_id = f"uuid:{uuid.uuid4()}"
            media = {f"photo{m}.jpg": os.urandom(args.media_bytes) for m in range(args.media)}
            encrypted = encrypt_submission(
                public_key,
                form_id="aJ7sd2kqWcH5YbVfXe8mLp",
                version="3 (2026-01-02 10:11:12)",
                instance_id=instance_id,
                submission_xml=submission_xml(instance_id),
                media=media,
            )
            write_encrypted_submission(encrypted, inbox)
        encrypt_seconds = time.perf_counter() - started

        started = time.perf_counter()
        outcomes = list(decrypt_directory(inbox, private_key))
        decrypt_seconds = time.perf_counter() - started
        decrypted = sum(isinstance(outcome, DecryptedSubmission) for outcome in outcomes)

        sample = sorted(inbox.iterdir())[: min(200, args.count)]
        per_submission = []
        for folder in sample:
            tick = time.perf_counter()
            decrypt_submission_folder(folder, private_key)
            per_submission.append(time.perf_counter() - tick)

    payload_kib = (args.media * args.media_bytes + len(submission_xml("uuid:x"))) / 1024
    print(
        f"submissions:            {args.count} ({args.media} media x {args.media_bytes} B, "
        f"~{payload_kib:.0f} KiB each, RSA-{args.bits})"
    )
    print(f"decrypted ok:           {decrypted}/{len(outcomes)}")
    print(
        f"encrypt + write:        {encrypt_seconds:.2f} s "
        f"({args.count / encrypt_seconds:.0f} submissions/s)"
    )
    print(
        f"decrypt_directory:      {decrypt_seconds:.2f} s "
        f"({args.count / decrypt_seconds:.0f} submissions/s)"
    )
    print(f"mean per submission:    {1000 * decrypt_seconds / args.count:.2f} ms (whole run)")
    print(
        f"median, single folder:  {1000 * statistics.median(per_submission):.2f} ms "
        f"(p95 {1000 * statistics.quantiles(per_submission, n=20)[-1]:.2f} ms, "
        f"{len(per_submission)} samples)"
    )


if __name__ == "__main__":
    main()
