"""Which standard columns and fields the codebook can derive, and which it cannot.

The codebook states crosswalk facts in two places: an element lists the CTDC columns and the HTCDS
field it derives (`element.crosswalk`), and an option names the CTDC 0/1 flag column it sets
(`option.standards.ctdc_gen1: meansOfControlDebtBondage`). These functions turn those facts
around, column by column, so the data dictionary and the CTDC export can show every column of a
standard together with what feeds it, and a column fed by nothing shows up as a gap instead of
as an empty column in a published dataset.

All functions are pure: codebook in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tipdata.model import Codebook, Element, Option
from tipdata.standards import CTDC_GEN1_COLUMNS, CTDC_GEN2_COLUMNS, HTCDS_FIELDS, STANDARDS

Generation = Literal[1, 2]

#: HTCDS tables in the order the field standard presents them (prefix of each field name).
HTCDS_PREFIXES: tuple[str, ...] = ("org", "prs", "vic", "per", "cas", "cco", "hte", "spl", "con")

#: Every standard an option may carry a code for, in display order.
OPTION_STANDARDS: tuple[str, ...] = (*STANDARDS, "iso")


@dataclass(frozen=True)
class OptionSource:
    """An option whose code in a CTDC standard is the name of a 0/1 flag column it sets."""

    list_name: str
    code: str
    #: elements asking this option's list; without one, the option derives nothing in practice
    elements: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.list_name}.{self.code}"


@dataclass(frozen=True)
class ColumnCoverage:
    """One column of a CTDC dataset and what in the codebook derives it."""

    column: str
    #: elements whose crosswalk lists the column
    elements: tuple[str, ...]
    #: options that set the column as a flag
    options: tuple[OptionSource, ...]

    @property
    def derived_by(self) -> tuple[str, ...]:
        """Element codes that feed the column, directly or through one of their options."""
        via_options = (e for o in self.options for e in o.elements)
        return tuple(dict.fromkeys((*self.elements, *via_options)))

    @property
    def is_gap(self) -> bool:
        return not self.derived_by


@dataclass(frozen=True)
class FieldCoverage:
    """One HTCDS v2.0 field and the elements mapped onto it."""

    field: str
    elements: tuple[str, ...]

    @property
    def table(self) -> str:
        return self.field.split("_", 1)[0]

    @property
    def is_gap(self) -> bool:
        return not self.elements


def ctdc_columns(generation: Generation) -> tuple[str, ...]:
    """The published columns of a CTDC dataset generation, in published order."""
    if generation == 1:
        return CTDC_GEN1_COLUMNS
    if generation == 2:
        return CTDC_GEN2_COLUMNS
    raise ValueError(f"CTDC generation must be 1 or 2, not {generation!r}")


def ctdc_coverage(codebook: Codebook, generation: Generation) -> list[ColumnCoverage]:
    """Every column of a CTDC generation, in published order, with the elements and options
    that derive it; a column with `is_gap` is derived by nothing.

    >>> gaps = [c.column for c in ctdc_coverage(load_codebook(), 1) if c.is_gap]
    """
    columns = ctdc_columns(generation)
    standard = f"ctdc_gen{generation}"
    by_element: dict[str, list[str]] = {c: [] for c in columns}
    for element in codebook.elements.values():
        for column in getattr(element.crosswalk, standard):
            if column in by_element:
                by_element[column].append(element.code)
    askers = _elements_by_list(codebook)
    by_option: dict[str, list[OptionSource]] = {c: [] for c in columns}
    for option_list in codebook.option_lists.values():
        for option in option_list.options:
            column = getattr(option.standards, standard)
            if column in by_option:
                by_option[column].append(
                    OptionSource(option_list.name, option.code, askers.get(option_list.name, ())))
    return [ColumnCoverage(c, tuple(by_element[c]), tuple(by_option[c])) for c in columns]


def htcds_coverage(codebook: Codebook) -> list[FieldCoverage]:
    """Every HTCDS v2.0 field, table by table, with the elements whose crosswalk names it.

    >>> mapped = [f.field for f in htcds_coverage(load_codebook()) if not f.is_gap]
    """
    by_field: dict[str, list[str]] = {f: [] for f in HTCDS_FIELDS}
    for element in codebook.elements.values():
        if element.crosswalk.htcds in by_field:
            by_field[element.crosswalk.htcds].append(element.code)

    def order(field: str) -> tuple[int, str]:
        prefix = field.split("_", 1)[0]
        rank = HTCDS_PREFIXES.index(prefix) if prefix in HTCDS_PREFIXES else len(HTCDS_PREFIXES)
        return rank, field

    return [FieldCoverage(f, tuple(by_field[f])) for f in sorted(by_field, key=order)]


def standards_codes(option: Option) -> dict[str, str]:
    """The option's code in each standard that has one, in display order.

    >>> standards_codes(Option(code="female", label="Female", standards={"htcds": "Feminine"}))
    {'htcds': 'Feminine'}
    """
    codes = {s: getattr(option.standards, s) for s in OPTION_STANDARDS}
    return {s: c for s, c in codes.items() if c is not None}


def element_standards(element: Element) -> dict[str, tuple[str, ...]]:
    """The element's own crosswalk as standard → codes, leaving out standards it does not map.

    >>> element_standards(load_codebook().elements["age_at_screening"])
    {'ctdc_gen1': ('ageBroad', 'majorityStatus'), 'ctdc_gen2': ('ageBroad',)}
    """
    crosswalk = element.crosswalk
    codes: dict[str, tuple[str, ...]] = {
        "htcds": (crosswalk.htcds,) if crosswalk.htcds else (),
        "ctdc_gen1": crosswalk.ctdc_gen1,
        "ctdc_gen2": crosswalk.ctdc_gen2,
        "iccs": crosswalk.iccs,
        "icd10cm": crosswalk.icd10cm,
    }
    return {s: c for s, c in codes.items() if c}


def flag_columns_via_options(codebook: Codebook, element: Element,
                             generation: Generation) -> tuple[str, ...]:
    """CTDC flag columns the element sets through the options of its list, in column order.

    A select_multiple of means of control derives `meansOfControlThreats` and its siblings this
    way without listing each column in its own crosswalk.
    """
    option_list = codebook.options_for(element)
    if option_list is None:
        return ()
    columns = ctdc_columns(generation)
    standard = f"ctdc_gen{generation}"
    named = {getattr(o.standards, standard) for o in option_list.options}
    return tuple(c for c in columns if c in named)


def _elements_by_list(codebook: Codebook) -> dict[str, tuple[str, ...]]:
    askers: dict[str, list[str]] = {}
    for element in codebook.elements.values():
        if element.options:
            askers.setdefault(element.options, []).append(element.code)
    return {name: tuple(codes) for name, codes in askers.items()}
