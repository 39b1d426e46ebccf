"""Cross-reference checks of an assembled codebook.

Parsing proves each entry is well formed; this module proves the entries fit together: levels,
sensitivity classes and consent purposes exist, option lists resolve, expressions type-check
against the elements they name, nothing depends on itself, forms hold what their logic needs, and
crosswalks name real columns of the standards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tipdata.logic import LogicSyntaxError, Symbol, check_text, parse, references
from tipdata.model import (
    SELECT_TYPES,
    Codebook,
    Element,
    Form,
    FormElement,
    FormGroup,
    FormNote,
    Translation,
)
from tipdata.problems import Problem
from tipdata.standards import ICCS_CODES, ICD10CM_CODES, KNOWN_COLUMNS


def symbols_of(codebook: Codebook) -> dict[str, Symbol]:
    """What the logic checker needs to know about each element."""
    symbols = {}
    for element in codebook.elements.values():
        option_list = codebook.options_for(element)
        options = frozenset(option_list.codes()) if option_list else None
        if element.type == "boolean":
            options = frozenset({"true", "false"})
        symbols[element.code] = Symbol(element.code, element.type, options)
    return symbols


def validate_codebook(codebook: Codebook, root: Path) -> list[Problem]:
    symbols = symbols_of(codebook)
    problems: list[Problem] = []
    for element in codebook.elements.values():
        problems.extend(_check_element(codebook, element, symbols))
    problems.extend(_check_cycles(codebook))
    for list_ in codebook.option_lists.values():
        for option in list_.options:
            for code_kind, known in (("iccs", ICCS_CODES), ("icd10cm", ICD10CM_CODES)):
                value = getattr(option.standards, code_kind)
                if value is not None and value not in known:
                    problems.append(Problem(
                        "CB161", f"option {list_.name}.{option.code}: {code_kind} code {value!r} "
                        f"is not a known code", option.file or list_.file, option.line))
    for form in codebook.forms.values():
        problems.extend(_check_form(codebook, form, symbols))
    problems.extend(_check_translations(codebook))
    return problems


def _check_element(cb: Codebook, el: Element, symbols: dict[str, Symbol]) -> Iterator[Problem]:
    def problem(code: str, message: str) -> Problem:
        return Problem(code, message, el.file, el.line, el.code)

    if not el.label.strip():
        yield problem("CB140", "the label is empty")
    if el.level not in cb.levels:
        yield problem("CB120", f"level {el.level!r} is not declared; expected one of "
                      f"{', '.join(cb.levels)}")
    if el.sensitivity not in cb.sensitivity_classes:
        yield problem("CB121", f"sensitivity {el.sensitivity!r} is not declared; expected one of "
                      f"{', '.join(cb.sensitivity_classes)}")
    for purpose in el.consent:
        if purpose not in cb.consent_purposes:
            yield problem("CB122", f"consent purpose {purpose!r} is not declared; expected one of "
                          f"{', '.join(cb.consent_purposes)}")
    if el.type in SELECT_TYPES:
        if el.options is None:
            yield problem("CB115", f"a {el.type} element needs `options: <list name>`")
        elif el.options not in cb.option_lists:
            yield problem("CB112", f"option list {el.options!r} is not defined")
    elif el.options is not None:
        yield problem("CB115", f"a {el.type} element must not name an option list")
    for standard in ("ctdc_gen1", "ctdc_gen2", "iccs", "icd10cm"):
        for column in getattr(el.crosswalk, standard):
            if column not in KNOWN_COLUMNS[standard]:
                yield problem("CB160", f"crosswalk {standard} names {column!r}, which is not in "
                              f"that standard")
    if el.crosswalk.htcds and el.crosswalk.htcds not in KNOWN_COLUMNS["htcds"]:
        yield problem("CB160", f"crosswalk htcds names {el.crosswalk.htcds!r}, which is not an "
                      "HTCDS v2.0 field")
    for context, text in el.expressions():
        for p in check_text(text, symbols, context, symbols[el.code]):  # type: ignore[arg-type]
            column = f" at column {p.column}" if p.column else ""
            yield problem("CB130", f"{context} `{text}`{column}: {p.message}")
    if el.constraint_message and not el.constraint:
        yield problem("CB101", "`constraint_message` is set but there is no `constraint`")


def _dependencies(el: Element) -> set[str]:
    deps: set[str] = set()
    for _context, text in el.expressions():
        try:
            deps |= references(parse(text))
        except LogicSyntaxError:
            continue
    deps.discard(el.code)
    return deps


def _check_cycles(cb: Codebook) -> Iterator[Problem]:
    """Depth-first search; each cycle is reported once, at its first element in codebook order."""
    graph = {code: _dependencies(el) & cb.elements.keys() for code, el in cb.elements.items()}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(code: str, stack: list[str]) -> Iterator[Problem]:
        state[code] = 1
        stack.append(code)
        for dep in sorted(graph[code]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    first = cb.elements[cycle[0]]
                    yield Problem("CB131", "expressions depend on each other in a cycle: "
                                  + " → ".join(cycle), first.file, first.line, first.code)
            elif dep not in state:
                yield from visit(dep, stack)
        stack.pop()
        state[code] = 2

    for code in cb.elements:
        if code not in state:
            yield from visit(code, [])


def _check_form(cb: Codebook, form: Form, symbols: dict[str, Symbol]) -> Iterator[Problem]:
    def problem(code: str, message: str, line: int | None, element: str | None = None) -> Problem:
        return Problem(code, f"form {form.id!r}: {message}", form.file, line, element)

    if form.level not in cb.levels:
        yield problem("CB120", f"level {form.level!r} is not declared", form.line)
    names: dict[str, int | None] = {}
    present = {i.element for i in form.walk() if isinstance(i, FormElement)}
    for item in form.walk():
        if item.name in names:
            yield problem("CB151", f"{item.name!r} appears twice (first at line {names[item.name]})",
                          item.line, item.name)
        names[item.name] = item.line
        if isinstance(item, FormNote | FormGroup) and not item.label.strip():
            yield problem("CB140", f"{item.kind} {item.name!r} has an empty label", item.line)
        if item.relevant:
            for p in check_text(item.relevant, symbols, "relevant", None):
                yield problem("CB130", f"relevant `{item.relevant}` of {item.name!r}: {p.message}",
                              item.line, item.name)
            yield from _outside_form(item.relevant, present, cb, lambda m, i=item: problem(
                "CB152", f"{i.name!r} {m}", i.line, i.name))
        if not isinstance(item, FormElement):
            continue
        element = cb.elements.get(item.element)
        if element is None:
            yield problem("CB150", f"element {item.element!r} is not defined", item.line, item.element)
            continue
        for context, text in element.expressions():
            yield from _outside_form(text, present, cb, lambda m, c=context, e=element, i=item: problem(
                "CB152", f"the {c} of {e.code!r} {m}", i.line, e.code))
        if item.fixed is not None:
            yield from (problem("CB153", m, item.line, element.code)
                        for m in _fixed_value_problems(cb, element, item.fixed))


def _outside_form(text: str, present: set[str], cb: Codebook, make: object) -> Iterator[Problem]:
    try:
        names = references(parse(text))
    except LogicSyntaxError:
        return  # reported as a bad expression already
    # names that are no element at all are reported as unknown names (CB130), not here
    for name in sorted((names & cb.elements.keys()) - present):
        yield make(f"refers to {name!r}, which is not in the form")  # type: ignore[operator]


def _fixed_value_problems(cb: Codebook, element: Element, value: str) -> Iterable[str]:
    if element.is_calculated:
        yield f"{element.code!r} is calculated; it cannot also have a fixed value"
    option_list = cb.options_for(element)
    if element.type == "select_one" and option_list and value not in option_list.codes():
        yield (f"fixed value {value!r} is not an option of {element.code!r}; expected one of "
               f"{', '.join(option_list.codes())}")
    if element.type in ("integer", "decimal"):
        try:
            float(value)
        except ValueError:
            yield f"fixed value {value!r} is not a number"


# --- translations -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Coverage:
    language: str
    translated: int
    total: int
    missing: tuple[str, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.translated / self.total if self.total else 100.0


def _translatable(cb: Codebook) -> Iterator[tuple[str, str, str, str]]:
    """(kind, owner, name, part) of every text a translation should provide."""
    for el in cb.elements.values():
        for part in ("label", "hint", "constraint_message"):
            if getattr(el, part):
                yield "element", el.code, "", part
    for list_ in cb.option_lists.values():
        if list_.generated:
            continue  # ISO names come translated from pycountry's catalogues
        for option in list_.options:
            yield "option", list_.name, option.code, "label"
    for form in cb.forms.values():
        yield "form", form.id, "", "title"
        for item in form.walk():
            if isinstance(item, FormNote | FormGroup):
                yield "form", form.id, item.name, "label"
                if isinstance(item, FormNote) and item.hint:
                    yield "form", form.id, item.name, "hint"


def translation_coverage(cb: Codebook) -> dict[str, Coverage]:
    """Per language, how many source texts are translated (the source language is complete)."""
    wanted = list(_translatable(cb))
    result = {cb.source_language: Coverage(cb.source_language, len(wanted), len(wanted), ())}
    for lang, tr in sorted(cb.translations.items()):
        missing = []
        for kind, owner, name, part in wanted:
            if kind == "element":
                texts = tr.elements.get(owner)
                ok = texts is not None and getattr(texts, part)
            elif kind == "option":
                ok = bool(tr.options.get(owner, {}).get(name))
            else:
                form_texts = tr.forms.get(owner)
                if form_texts is None:
                    ok = False
                elif name == "":
                    ok = bool(form_texts.title)
                else:
                    texts = form_texts.items.get(name)
                    ok = texts is not None and bool(getattr(texts, part))
            if not ok:
                missing.append(f"{kind} {owner}{'.' + name if name else ''} {part}")
        result[lang] = Coverage(lang, len(wanted) - len(missing), len(wanted), tuple(missing))
    return result


def _check_translations(cb: Codebook) -> Iterator[Problem]:
    for lang, tr in sorted(cb.translations.items()):
        def stale(message: str, lang: str = lang, tr: Translation = tr) -> Problem:
            return Problem("CB142", f"{lang}: {message}", tr.file, tr.line, severity="warning")

        for code in tr.elements:
            if code not in cb.elements:
                yield stale(f"translation for unknown element {code!r}")
        for list_name, options in tr.options.items():
            list_ = cb.option_lists.get(list_name)
            if list_ is None:
                yield stale(f"translation for unknown option list {list_name!r}")
                continue
            for code in options:
                if list_.option(code) is None:
                    yield stale(f"translation for unknown option {list_name}.{code}")
        for form_id, form_texts in tr.forms.items():
            form = cb.forms.get(form_id)
            if form is None:
                yield stale(f"translation for unknown form {form_id!r}")
                continue
            known = {i.name for i in form.walk()}
            for name in form_texts.items:
                if name not in known:
                    yield stale(f"translation for unknown item {form_id}.{name}")
    for lang, cov in translation_coverage(cb).items():
        if cov.missing:
            tr = cb.translations[lang]
            sample = "; ".join(cov.missing[:5])
            yield Problem("CB143", f"{lang}: {len(cov.missing)} of {cov.total} texts untranslated "
                          f"({cov.percent:.1f}% covered), e.g. {sample}", tr.file, tr.line,
                          severity="warning")
