"""The `dhis2` build target: the metadata package as a file in the repository.

`tipdata build` writes it and `tipdata build --check` fails when it is stale. The committed file
is the package under the default (safe) policy: no direct identifiers, no org units, no data
access beyond what sharing later grants. A deployment that needs its own org units and user
groups builds its package with :func:`tipdata.dhis2_app.metadata.build_metadata` and a
:class:`DeploymentPolicy`, or passes ``dhis2_policy`` in the build options.
"""

from __future__ import annotations

from typing import Any

from tipdata.build import Artifact
from tipdata.model import Codebook

from .metadata import DeploymentPolicy, build_metadata

TARGET = "dhis2"
METADATA_PATH = "plugins/dhis2_app/metadata/tipdata-dhis2-metadata.json"
OWNS = ("plugins/dhis2_app/metadata/*.json",)


def dhis2_artifacts(codebook: Codebook, options: Any = None) -> list[Artifact]:
    """The DHIS2 metadata package of ``codebook`` (pure; deterministic bytes).

    Example: ``dhis2_artifacts(load_codebook(), BuildOptions())[0].path`` is
    ``'plugins/dhis2_app/metadata/tipdata-dhis2-metadata.json'``.
    """
    policy = getattr(options, "dhis2_policy", None) or DeploymentPolicy()
    package = build_metadata(codebook, policy)
    return [Artifact(METADATA_PATH, package.to_bytes(), TARGET)]
