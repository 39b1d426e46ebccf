"""Typed model of the codebook: the single source every platform artifact is compiled from.

The model is target-neutral on purpose: nothing here knows about XLSForm, DHIS2 or Frappe. A
renderer reads these objects; adding an element never means touching a renderer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
OptionCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=48)]

ElementType = Literal[
    "text", "integer", "decimal", "date", "datetime", "select_one", "select_multiple",
    "boolean", "geopoint",
]
SELECT_TYPES: frozenset[str] = frozenset({"select_one", "select_multiple"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Located(_Strict):
    """Where an entry was defined, so every later problem can point back to it."""

    file: str = Field(default="", exclude=True)
    line: int | None = Field(default=None, exclude=True)


class Crosswalk(_Strict):
    """How an element maps onto the published standards (facts only, never wording)."""

    htcds: str | None = None
    ctdc_gen1: tuple[str, ...] = ()
    ctdc_gen2: tuple[str, ...] = ()
    iccs: tuple[str, ...] = ()
    icd10cm: tuple[str, ...] = ()
    note: str | None = None


class OptionStandards(_Strict):
    """An option's code in each standard: a picklist value, or (CTDC) the 0/1 flag column it sets."""

    htcds: str | None = None
    ctdc_gen1: str | None = None
    ctdc_gen2: str | None = None
    iccs: str | None = None
    icd10cm: str | None = None
    iso: str | None = None


class Option(Located):
    code: OptionCode
    label: str
    description: str | None = None
    standards: OptionStandards = OptionStandards()


class OptionList(Located):
    name: Code
    description: str | None = None
    #: a list generated from a well-kept data package instead of typed by hand (ISO lists)
    generated: Literal["iso3166", "iso639"] | None = None
    options: tuple[Option, ...] = ()

    def codes(self) -> tuple[str, ...]:
        return tuple(o.code for o in self.options)

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)


class Element(Located):
    """One data element: a stable code with its type, wording, logic, sensitivity and crosswalk."""

    code: Code
    type: ElementType
    label: str
    hint: str | None = None
    description: str | None = None
    section: str = ""
    level: Code
    sensitivity: Code
    #: consent purposes under which this element may be shared beyond the collecting platform
    consent: tuple[Code, ...] = ()
    options: Code | None = None
    required: bool | str = False
    relevant: str | None = None
    constraint: str | None = None
    constraint_message: str | None = None
    calculation: str | None = None
    default: str | None = None
    appearance: str | None = None
    max_length: int | None = Field(default=None, ge=1)
    crosswalk: Crosswalk = Crosswalk()

    @property
    def is_calculated(self) -> bool:
        return self.calculation is not None

    def expressions(self) -> Iterator[tuple[str, str]]:
        """(context, text) for every expression the element carries."""
        if isinstance(self.required, str):
            yield "required", self.required
        if self.relevant:
            yield "relevant", self.relevant
        if self.constraint:
            yield "constraint", self.constraint
        if self.calculation:
            yield "calculation", self.calculation


class FormElement(Located):
    """A question (or calculation) in a form; the element carries its own wording and logic."""

    kind: Literal["element"] = "element"
    element: Code
    #: a value this form sets for the element, e.g. the population a screening form is for
    fixed: str | None = None
    #: extra relevance within this form, combined with the element's own (`and`)
    relevant: str | None = None

    @property
    def name(self) -> str:
        return self.element


class FormNote(Located):
    kind: Literal["note"] = "note"
    name: Code
    label: str
    hint: str | None = None
    relevant: str | None = None


class FormGroup(Located):
    kind: Literal["group"] = "group"
    name: Code
    label: str
    relevant: str | None = None
    appearance: str | None = None
    items: tuple[FormItem, ...] = ()


FormItem = Annotated[FormElement | FormNote | FormGroup, Field(discriminator="kind")]
FormGroup.model_rebuild()


class Form(Located):
    """A data-collection form: an ordered selection of elements, groups and notes."""

    id: Code
    title: str
    description: str | None = None
    #: the level or stage this form records (screening, referral, ...)
    level: Code
    style: str | None = None
    items: tuple[FormItem, ...]

    def walk(self) -> Iterator[FormElement | FormNote | FormGroup]:
        """Every item, depth first, in form order."""

        def visit(items: tuple[FormItem, ...]) -> Iterator[FormElement | FormNote | FormGroup]:
            for item in items:
                yield item
                if isinstance(item, FormGroup):
                    yield from visit(item.items)

        yield from visit(self.items)

    def element_codes(self) -> tuple[str, ...]:
        return tuple(i.element for i in self.walk() if isinstance(i, FormElement))

    def form_conditions(self) -> dict[str, tuple[str, ...]]:
        """Per element, the relevance expressions the form adds (enclosing groups, then the item).

        An element applies only when its own `relevant` and all of these hold.
        """
        result: dict[str, tuple[str, ...]] = {}

        def visit(items: tuple[FormItem, ...], inherited: tuple[str, ...]) -> None:
            for item in items:
                own = (*inherited, item.relevant) if item.relevant else inherited
                if isinstance(item, FormGroup):
                    visit(item.items, own)
                elif isinstance(item, FormElement):
                    result[item.element] = own

        visit(self.items, ())
        return result


class TextSet(_Strict):
    """Translated texts of one entry; unset means 'not translated yet'."""

    label: str | None = None
    hint: str | None = None
    constraint_message: str | None = None


class FormTexts(_Strict):
    title: str | None = None
    items: dict[str, TextSet] = {}


class Translation(Located):
    """All texts of one language; adding a language is adding one such file."""

    language: str
    name: str
    elements: dict[str, TextSet] = {}
    options: dict[str, dict[str, str]] = {}
    forms: dict[str, FormTexts] = {}


class Codebook(_Strict):
    """The validated codebook. Built only by `tipdata.codebook.load_codebook`."""

    id: Code
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
    title: str
    source_language: str
    source_language_name: str
    levels: dict[str, str]
    sensitivity_classes: dict[str, str]
    consent_purposes: dict[str, str]
    elements: dict[str, Element]
    option_lists: dict[str, OptionList]
    forms: dict[str, Form]
    translations: dict[str, Translation]

    @property
    def languages(self) -> tuple[str, ...]:
        """Source language first, then the translations in code order."""
        return (self.source_language, *sorted(self.translations))

    def language_name(self, lang: str) -> str:
        if lang == self.source_language:
            return self.source_language_name
        return self.translations[lang].name

    def options_for(self, element: Element) -> OptionList | None:
        return self.option_lists.get(element.options) if element.options else None

    # --- translated text lookups (fall back to the source language) ---------------------------
    def element_text(self, lang: str, code: str, part: str = "label") -> str | None:
        element = self.elements[code]
        source = getattr(element, part)
        if lang == self.source_language:
            return source
        texts = self.translations[lang].elements.get(code)
        translated = getattr(texts, part) if texts else None
        return translated if translated is not None else source

    def option_text(self, lang: str, list_name: str, code: str) -> str:
        option = self.option_lists[list_name].option(code)
        source = option.label if option else code
        if lang == self.source_language:
            return source
        return self.translations[lang].options.get(list_name, {}).get(code) or source

    def form_text(self, lang: str, form_id: str, name: str, part: str = "label") -> str | None:
        """Text of a form's own items (groups, notes) or of the form itself (name == '' → title)."""
        form = self.forms[form_id]
        if name == "":
            source: str | None = form.title
        else:
            item = next((i for i in form.walk() if i.name == name), None)
            source = getattr(item, part, None) if item is not None else None
        if lang == self.source_language:
            return source
        form_texts = self.translations[lang].forms.get(form_id)
        if form_texts is None:
            return source
        if name == "":
            translated = form_texts.title
        else:
            texts = form_texts.items.get(name)
            translated = getattr(texts, part) if texts else None
        return translated if translated is not None else source

    def forms_using(self, code: str) -> tuple[str, ...]:
        return tuple(f.id for f in self.forms.values() if code in f.element_codes())
