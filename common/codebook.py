"""Reading the codebook folder into a validated `Codebook`.

Layout of a codebook folder (see docs/codebook-format.md):

    codebook.yaml            id, version, levels, sensitivity classes, consent purposes
    elements/<section>.yaml  the data elements of one section
    options/<topic>.yaml     option lists
    forms/<form id>.yaml     one form each
    translations/<lang>.yaml one language each (the source language lives in the files above)

Loading never stops at the first problem: every entry is parsed on its own and every problem is
collected, then `CodebookInvalid` reports them all with file and line.
"""

from __future__ import annotations

import difflib
import gettext
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pycountry
from pydantic import BaseModel, ValidationError

from tipdata.model import (
    Codebook,
    Element,
    Form,
    Option,
    OptionList,
    Translation,
)
from tipdata.problems import CodebookInvalid, Problem, relative_path
from tipdata.yaml_source import SourceList, SourceMap, YamlSyntaxError, line_of, load_yaml

DEFAULT_CODEBOOK_DIR = Path(__file__).parent / "codebook"


@dataclass
class _Collector:
    """Accumulates problems while the folder is read."""

    root: Path
    problems: list[Problem]

    def rel(self, path: Path) -> str:
        return relative_path(path, self.root)

    def add(self, code: str, message: str, path: Path, line: int | None, element: str | None = None,
            severity: str = "error") -> None:
        self.problems.append(
            Problem(code, message, self.rel(path), line, element, severity)  # type: ignore[arg-type]
        )

    def read(self, path: Path) -> Any:
        try:
            return load_yaml(path)
        except YamlSyntaxError as exc:
            self.add("CB100", exc.message, path, exc.line)
            return None

    def build(self, model: type[BaseModel], data: Any, path: Path, element: str | None = None,
              **extra: Any) -> Any:
        """Validate one entry; pydantic errors become located problems, the entry is then skipped."""
        if not isinstance(data, dict):
            self.add("CB102", f"expected a mapping for a {model.__name__}, got {type(data).__name__}",
                     path, line_of(data), element)
            return None
        try:
            return model.model_validate({**data, **extra, "file": self.rel(path), "line": line_of(data)})
        except ValidationError as exc:
            errors = exc.errors()
            for err in errors:
                self._report_pydantic(err, data, path, element, model)
            unknown = {str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"]}
            if len(unknown) == len(errors):
                # only misspelt keys: keep the entry so one typo does not cascade into
                # "unknown element" reports everywhere it is used
                kept = {k: v for k, v in data.items() if k not in unknown}
                return model.model_validate({**kept, **extra, "file": self.rel(path),
                                             "line": line_of(data)})
            return None

    def _report_pydantic(self, err: Any, data: SourceMap, path: Path, element: str | None,
                         model: type[BaseModel]) -> None:
        loc = [str(p) for p in err["loc"]]
        key = loc[0] if loc else ""
        line = data.line_of(key) if isinstance(data, SourceMap) else line_of(data)
        where = ".".join(loc)
        kind = err["type"]
        if kind == "missing":
            self.add("CB101", f"`{where}` is required", path, line, element)
        elif kind == "extra_forbidden":
            allowed = [k for k in model.model_fields if k not in ("file", "line")]
            close = difflib.get_close_matches(loc[-1], allowed, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else f"; allowed: {', '.join(allowed)}"
            self.add("CB103", f"unknown key `{where}`{hint}", path, line, element)
        else:
            got = err.get("input")
            got_text = repr(got) if not isinstance(got, dict | list) else type(got).__name__
            self.add("CB102", f"`{where}`: {err['msg']} (got {got_text})", path, line, element)


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


@cache
def _iso_translator(domain: str, lang: str) -> gettext.NullTranslations:
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang], fallback=True)


def generated_options(kind: str) -> tuple[Option, ...]:
    """ISO lists come from pycountry (pinned) rather than 250 hand-typed rows."""
    if kind == "iso3166":
        return tuple(
            Option(code=c.alpha_2, label=c.name, standards={"iso": c.alpha_3, "ctdc_gen1": c.alpha_2,
                                                             "ctdc_gen2": c.alpha_3})
            for c in sorted(pycountry.countries, key=lambda c: c.alpha_2)
        )
    if kind == "iso639":
        return tuple(
            Option(code=lang.alpha_2, label=lang.name, standards={"iso": lang.alpha_3})
            for lang in sorted(pycountry.languages, key=lambda x: getattr(x, "alpha_2", ""))
            if hasattr(lang, "alpha_2")
        )
    raise ValueError(f"unknown generated option list {kind!r}")


def generated_option_label(kind: str, lang: str, source_label: str) -> str:
    """Translated ISO names from the iso-codes catalogues pycountry ships."""
    domain = {"iso3166": "iso3166-1", "iso639": "iso639-3"}[kind]
    return _iso_translator(domain, lang).gettext(source_label)


def is_iso639_1(code: str) -> bool:
    return pycountry.languages.get(alpha_2=code) is not None


def _read_meta(c: _Collector, root: Path) -> dict[str, Any] | None:
    path = root / "codebook.yaml"
    if not path.is_file():
        c.add("CB101", "codebook.yaml is missing from the codebook folder", path, None)
        return None
    meta = c.read(path)
    if not isinstance(meta, dict):
        if meta is not None:
            c.add("CB102", "codebook.yaml must be a mapping", path, line_of(meta))
        return None
    required = ("id", "version", "title", "source_language", "source_language_name", "levels",
                "sensitivity_classes", "consent_purposes")
    for key in required:
        if key not in meta:
            c.add("CB101", f"`{key}` is required in codebook.yaml", path, meta.line)
    for key in meta:
        if key not in required:
            c.add("CB103", f"unknown key `{key}` in codebook.yaml", path, meta.line_of(key))
    if any(k not in meta for k in required):
        return None
    if not is_iso639_1(str(meta["source_language"])):
        c.add("CB141", f"source_language {meta['source_language']!r} is not an ISO 639-1 code",
              path, meta.line_of("source_language"))
    return meta


def _read_elements(c: _Collector, root: Path) -> dict[str, Element]:
    elements: dict[str, Element] = {}
    for path in _yaml_files(root / "elements"):
        doc = c.read(path)
        if doc is None:
            continue
        if not isinstance(doc, SourceMap) or not isinstance(doc.get("elements"), SourceList):
            c.add("CB101", "an elements file needs `section:` and an `elements:` list", path, line_of(doc))
            continue
        section = str(doc.get("section") or path.stem)
        for raw in doc["elements"]:
            code = raw.get("code") if isinstance(raw, dict) else None
            element = c.build(Element, raw, path, code, section=section)
            if element is None:
                continue
            if element.code in elements:
                first = elements[element.code]
                c.add("CB110", f"element code {element.code!r} is already defined at "
                      f"{first.file}:{first.line}", path, element.line, element.code)
                continue
            elements[element.code] = element
    return elements


def _read_options(c: _Collector, root: Path) -> dict[str, OptionList]:
    lists: dict[str, OptionList] = {}
    for path in _yaml_files(root / "options"):
        doc = c.read(path)
        if doc is None:
            continue
        if not isinstance(doc, SourceMap) or not isinstance(doc.get("lists"), SourceMap):
            c.add("CB101", "an options file needs a `lists:` mapping of list name → options",
                  path, line_of(doc))
            continue
        for name, raw in doc["lists"].items():
            line = doc["lists"].line_of(name)
            raw_options = raw if isinstance(raw, list) else (
                raw.get("options", []) if isinstance(raw, dict) else [])
            body = SourceMap({k: v for k, v in raw.items() if k != "options"}) \
                if isinstance(raw, SourceMap) else SourceMap()
            body.line = line
            body.key_lines = dict(raw.key_lines) if isinstance(raw, SourceMap) else {}
            option_list = c.build(OptionList, body, path, None, name=name)
            if option_list is None:
                continue
            built = [c.build(Option, o, path) for o in raw_options]
            option_list = option_list.model_copy(
                update={"options": tuple(o for o in built if o is not None)})
            if option_list.generated:
                if option_list.options:
                    c.add("CB102", f"list {name!r} is generated ({option_list.generated}); "
                          "remove its `options`", path, line)
                option_list = option_list.model_copy(
                    update={"options": generated_options(option_list.generated)})
            elif not option_list.options:
                c.add("CB101", f"list {name!r} has no options", path, line)
            if name in lists:
                first = lists[name]
                c.add("CB114", f"option list {name!r} is already defined at {first.file}:{first.line}",
                      path, line)
                continue
            seen: dict[str, int | None] = {}
            for option in option_list.options:
                if option.code in seen:
                    c.add("CB113", f"option code {option.code!r} appears twice in list {name!r} "
                          f"(first at line {seen[option.code]})", path, option.line)
                seen[option.code] = option.line
            lists[name] = option_list
    return lists


def _read_forms(c: _Collector, root: Path) -> dict[str, Form]:
    forms: dict[str, Form] = {}
    for path in _yaml_files(root / "forms"):
        doc = c.read(path)
        if doc is None:
            continue
        form = c.build(Form, _tag_form_items(doc, c.rel(path)), path)
        if form is None:
            continue
        if form.id in forms:
            c.add("CB154", f"form id {form.id!r} is already used by {forms[form.id].file}", path, form.line)
            continue
        forms[form.id] = form
    return forms


def _tag_form_items(doc: Any, rel: str) -> Any:
    """Form items are written as `- element: x`, `- group: g` or `- note: n`; tag them for pydantic."""
    if not isinstance(doc, SourceMap) or not isinstance(doc.get("items"), list):
        return doc

    def tag(item: Any) -> Any:
        if not isinstance(item, SourceMap):
            return item
        out = SourceMap(item)
        out.line, out.key_lines = item.line, dict(item.key_lines)
        out["file"], out["line"] = rel, item.line
        if "group" in item:
            out["kind"] = "group"
            out["name"] = out.pop("group")
            out["items"] = [tag(i) for i in item.get("items", [])]
        elif "note" in item:
            out["kind"] = "note"
            out["name"] = out.pop("note")
        else:
            out["kind"] = "element"
        return out

    out = SourceMap(doc)
    out.line, out.key_lines = doc.line, dict(doc.key_lines)
    out["items"] = [tag(i) for i in doc["items"]]
    return out


def _read_translations(c: _Collector, root: Path) -> dict[str, Translation]:
    translations: dict[str, Translation] = {}
    for path in _yaml_files(root / "translations"):
        doc = c.read(path)
        if doc is None:
            continue
        translation = c.build(Translation, doc, path)
        if translation is None:
            continue
        if translation.language != path.stem:
            c.add("CB141", f"file {path.name} declares language {translation.language!r}; "
                  f"name the file {translation.language}.yaml", path, doc.line_of("language"))
            continue
        if not is_iso639_1(translation.language):
            c.add("CB141", f"{translation.language!r} is not an ISO 639-1 language code",
                  path, doc.line_of("language"))
            continue
        translations[translation.language] = translation
    return translations


def load_codebook(root: Path | None = None, *, strict: bool = True) -> Codebook:
    """Load and validate a codebook folder.

    Raises `CodebookInvalid` listing every error; warnings (such as missing translations) are
    available from `check_codebook`.

    >>> cb = load_codebook()            # the packaged codebook
    >>> cb.elements["person_sex"].type
    'select_one'
    """
    codebook, problems = check_codebook(root)
    if codebook is None or (strict and any(p.severity == "error" for p in problems)):
        raise CodebookInvalid(problems)
    return codebook


def check_codebook(root: Path | None = None) -> tuple[Codebook | None, list[Problem]]:
    """Read and validate; returns the codebook (if it could be assembled) and all problems."""
    from tipdata.validation import validate_codebook

    root = (root or DEFAULT_CODEBOOK_DIR).resolve()
    collector = _Collector(root, [])
    meta = _read_meta(collector, root)
    elements = _read_elements(collector, root)
    option_lists = _read_options(collector, root)
    forms = _read_forms(collector, root)
    translations = _read_translations(collector, root)
    if meta is None:
        return None, collector.problems
    if any(p.code == "CB100" for p in collector.problems):
        # a file that is not YAML leaves entries missing; cross-checks would only echo that
        return None, collector.problems
    try:
        codebook = Codebook(
            id=meta["id"], version=str(meta["version"]), title=meta["title"],
            source_language=meta["source_language"],
            source_language_name=meta["source_language_name"],
            levels=dict(meta["levels"]), sensitivity_classes=dict(meta["sensitivity_classes"]),
            consent_purposes=dict(meta["consent_purposes"]), elements=elements,
            option_lists=option_lists, forms=forms, translations=translations,
        )
    except ValidationError as exc:
        for err in exc.errors():
            collector._report_pydantic(err, meta, root / "codebook.yaml", None, Codebook)
        return None, collector.problems
    collector.problems.extend(validate_codebook(codebook, root))
    return codebook, collector.problems
