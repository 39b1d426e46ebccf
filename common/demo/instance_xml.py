"""Submission XML exactly shaped like the deployed form's: the XForm's own primary instance, filled.

A device submits the form's primary instance with the answers written in: the root element with
the form id and version, `start` and `end`, every group as a nested element, notes as empty
elements, `meta/instanceID`. Rather than imitate that shape, the demo compiles the codebook form
to an XLSForm (`build_xlsform`), converts it with pyxform (what KoboToolbox runs on upload), takes
the primary instance from the XForm and fills it. Kobo's deployment adds `__version__` and names
the root `id` by the asset uid; so does `render`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeElementTree

from tipdata.kobo_forms.xlsform import build_xlsform
from tipdata.model import Codebook
from tipdata.spreadsheet import write_xlsx

_XFORMS_NS = "{http://www.w3.org/2002/xforms}"


@dataclass(frozen=True)
class _Node:
    name: str
    children: tuple[_Node, ...] | None  # None: a leaf (question, note, metadata)


@dataclass(frozen=True)
class InstanceTemplate:
    """The primary instance of one form's XForm, ready to be filled per submission.

    >>> template = InstanceTemplate.compile(codebook, "tip_screening_adult")
    >>> xml = template.render(asset_uid="aBc", instance_id="uuid:1", started=t0, ended=t1,
    ...                       answers={"grp_start/consent_screening": "yes"})
    """

    form_id: str
    version: str
    root: _Node

    @classmethod
    def compile(cls, codebook: Codebook, form_id: str) -> InstanceTemplate:
        from pyxform.xls2xform import convert  # the slow part (~0.2-2 s a form): only here

        xlsform = build_xlsform(codebook, form_id)
        xform = convert(write_xlsx(xlsform.sheets(), escape_formulas=False)).xform
        tree = SafeElementTree.fromstring(xform.encode("utf-8"))
        instance = next(tree.iter(f"{_XFORMS_NS}instance"))  # the first one is the primary
        data = next(iter(instance))
        return cls(form_id, xlsform.version, _node(data))

    def paths(self) -> tuple[str, ...]:
        """Every leaf's path below the root, `/`-joined, as Kobo keys answers."""
        found: list[str] = []

        def visit(node: _Node, prefix: str) -> None:
            for child in node.children or ():
                if child.children is None:
                    found.append(prefix + child.name)
                else:
                    visit(child, f"{prefix}{child.name}/")

        visit(self.root, "")
        return tuple(found)

    def render(self, *, asset_uid: str, instance_id: str, started: dt.datetime,
               ended: dt.datetime, answers: Mapping[str, str]) -> bytes:
        """The submission XML: `answers` maps leaf paths (`grp_case/case_reference`) to text.

        Raises ValueError for an answer whose path is not in the form.
        """
        unknown = set(answers) - set(self.paths())
        if unknown:
            raise ValueError(f"{len(unknown)} answer path(s) are not in form {self.form_id}: "
                             f"{', '.join(sorted(unknown)[:5])}")
        metadata = {"start": _device_time(started), "end": _device_time(ended),
                    "meta/instanceID": instance_id}
        root = Element(self.root.name, {"id": asset_uid, "version": self.version})

        def fill(node: _Node, into: Element, prefix: str) -> None:
            for child in node.children or ():
                path = prefix + child.name
                if child.children is None:
                    leaf = SubElement(into, child.name)
                    text = answers.get(path, metadata.get(path))
                    if text:
                        leaf.text = text
                else:
                    fill(child, SubElement(into, child.name), f"{path}/")

        fill(self.root, root, "")
        meta = root.find("meta")
        version = Element("__version__")
        version.text = self.version
        root.insert(list(root).index(meta) if meta is not None else len(root), version)
        return tostring(root, encoding="utf-8", xml_declaration=True)


def _node(element: Element) -> _Node:
    name = element.tag.rsplit("}", 1)[-1]
    children = list(element)
    if not children:
        return _Node(name, None)
    return _Node(name, tuple(_node(c) for c in children))


def _device_time(moment: dt.datetime) -> str:
    """ODK's `start`/`end` format: milliseconds and the device's UTC offset."""
    return moment.isoformat(timespec="milliseconds")
