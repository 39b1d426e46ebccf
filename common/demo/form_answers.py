"""Answers to a codebook form as an enumerator would give them: valid, relevant, complete.

The demo needs submissions that a real form engine would accept, for any form of the codebook,
without a hand-written list per question. `FormFiller` walks the form in order like a device
does: a question whose relevance (its own and its groups') is false is skipped, a required one is
always answered, an optional one sometimes; every value is drawn from the element's type and
options and redrawn until the element's constraint holds; calculations are computed with the same
evaluator the validation uses. A scenario (consent, names, dates...) fixes the answers that tell
the demo's story; the filler answers the rest around them.

Free-text questions are answered only when the scenario gives them or the form requires them, so
no invented text can hold anything that looks like case contents.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tipdata.logic import evaluate, parse, references, walk
from tipdata.logic.nodes import Call, Expr
from tipdata.model import Codebook, Element, FormElement
from tipdata.records import coerce_value
from tipdata.validation import symbols_of

#: options an enumerator picks only when nothing else fits; the filler leaves them out so that
#: no follow-up "other, specify" text is needed and exclusive-choice constraints always hold
RESERVED_OPTIONS = frozenset({"other", "declined", "unknown", "none", "none_identified",
                              "dont_know", "no_contact"})
#: a plausible few of the long generated lists (a demo in one region, not 249 countries)
COUNTRIES: tuple[str, ...] = ("GH", "NG", "CI", "BF", "TG", "BJ", "ML", "SN")
LANGUAGES: tuple[str, ...] = ("en", "fr", "ha", "yo", "ee", "tw", "wo", "bm")
_PREFERRED = {"country": COUNTRIES, "language": LANGUAGES}
#: chance that an optional, relevant, non-text question is answered
ANSWER_OPTIONAL = 0.6
#: functions whose result depends on the day of the interview
_CLOCK_FUNCTIONS = frozenset({"today", "now", "age_in_years"})
_TRIES = 25


@dataclass(frozen=True)
class _Question:
    element: Element
    fixed: str | None
    conditions: tuple[Expr, ...]


class FormFiller:
    """Fills one codebook form; build once per form, call `answers` per submission.

    >>> filler = FormFiller(codebook, "tip_screening_adult")
    >>> values = filler.answers(random.Random(1), {"consent_screening": "yes"},
    ...                         today=dt.date(2025, 3, 1))
    >>> values["screening_population"]
    'adult'
    """

    def __init__(self, codebook: Codebook, form_id: str) -> None:
        self.codebook = codebook
        self.form = codebook.forms[form_id]
        self.symbols = symbols_of(codebook)
        conditions = self.form.form_conditions()
        self.questions: list[_Question] = []
        for item in self.form.walk():
            if not isinstance(item, FormElement):
                continue
            element = codebook.elements[item.element]
            texts = ((element.relevant,) if element.relevant else ()) + conditions[item.element]
            self.questions.append(_Question(element, item.fixed, tuple(parse(t) for t in texts)))
        self._parsed: dict[str, Expr] = {}
        #: (expression, the values it reads, `.`, today) → result: answers repeat a lot across
        #: submissions (every question of a group reads the same consent answer), and `evaluate`
        #: type-checks the expression on every call
        self._results: dict[tuple[Any, ...], Any] = {}
        self._reads: dict[int, tuple[tuple[str, ...], bool]] = {}

    def answers(self, rng: random.Random, scenario: Mapping[str, Any], *,
                today: dt.date) -> dict[str, Any]:
        """Canonical values of one submission (element code → value), in form order.

        `scenario` values win whenever their question is relevant (None: leave it unanswered).
        """
        values: dict[str, Any] = {}
        for question in self.questions:
            self._answer(question, values, rng, scenario, today)
        for question in self.questions:  # a calculation may read an answer given after it
            if question.element.is_calculated:
                self._answer(question, values, rng, scenario, today)
        return values

    # --- one question -----------------------------------------------------------------------

    def _expr(self, text: str) -> Expr:
        expr = self._parsed.get(text)
        if expr is None:
            expr = self._parsed[text] = parse(text)
        return expr

    def _holds(self, expr: Expr, values: Mapping[str, Any], today: dt.date,
               self_value: Any = None, code: str | None = None) -> bool:
        return bool(self._evaluate(expr, values, today, self_value, code))

    def _evaluate(self, expr: Expr, values: Mapping[str, Any], today: dt.date,
                  self_value: Any = None, code: str | None = None) -> Any:
        found = self._reads.get(id(expr))
        if found is None:
            found = self._reads[id(expr)] = (tuple(sorted(references(expr))), any(
                isinstance(n, Call) and n.function in _CLOCK_FUNCTIONS for n in walk(expr)))
        reads, uses_clock = found
        key = (id(expr), tuple(values.get(name) for name in reads), self_value,
               today if uses_clock else None, code)
        try:
            return self._results[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: compute without the cache
            key = ()
        result = evaluate(expr, values, self_value=self_value, today=today, symbols=self.symbols,
                          self_symbol=self.symbols.get(code) if code else None)
        if key and len(self._results) < 200_000:
            self._results[key] = result
        return result

    def _answer(self, question: _Question, values: dict[str, Any], rng: random.Random,
                scenario: Mapping[str, Any], today: dt.date) -> None:
        element = question.element
        code = element.code
        values.pop(code, None)
        if not all(self._holds(c, values, today, code=code) for c in question.conditions):
            return
        if question.fixed is not None:
            values[code] = coerce_value(element, question.fixed)
            return
        if element.is_calculated:
            assert element.calculation is not None
            result = self._evaluate(self._expr(element.calculation), values, today, code=code)
            value = _calculated(element, result)
            if value is not None:
                values[code] = value
            return
        if code in scenario:
            if scenario[code] is not None:
                values[code] = scenario[code]
            return
        required = element.required
        if isinstance(required, str):
            required = self._holds(self._expr(required), values, today, code=code)
        if element.type == "text" and not required:
            return
        if not required and rng.random() >= ANSWER_OPTIONAL:
            return
        value = self._draw_valid(element, values, rng, today)
        if value is not None:
            values[code] = value

    def _draw_valid(self, element: Element, values: Mapping[str, Any], rng: random.Random,
                    today: dt.date) -> Any:
        constraint = self._expr(element.constraint) if element.constraint else None
        for _ in range(_TRIES):
            value = self._draw(element, rng, today)
            if value is None or constraint is None or \
                    self._holds(constraint, values, today, self_value=value, code=element.code):
                return value
        return None

    def _draw(self, element: Element, rng: random.Random, today: dt.date) -> Any:
        kind = element.type
        if kind in ("select_one", "select_multiple"):
            codes = self._choosable(element)
            if not codes:
                return None
            if kind == "select_one":
                return rng.choice(codes)
            return tuple(sorted(rng.sample(codes, k=min(len(codes), rng.choice((1, 1, 2))))))
        if kind == "integer":
            return rng.randrange(1, 40)
        if kind == "decimal":
            return round(rng.uniform(1, 100), 2)
        if kind == "date":
            return today - dt.timedelta(days=rng.randrange(0, 3 * 365))
        if kind == "datetime":
            moment = dt.datetime.combine(today, dt.time(9), tzinfo=dt.UTC)
            return moment - dt.timedelta(minutes=rng.randrange(0, 3 * 365 * 24 * 60))
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "text":
            return f"demo-{rng.randrange(10**6):06d}"  # only ever asked for when required
        return None  # geopoint: never required in the codebook's forms

    def _choosable(self, element: Element) -> tuple[str, ...]:
        option_list = self.codebook.options_for(element)
        if option_list is None:
            return ()
        preferred = _PREFERRED.get(option_list.name)
        if preferred:
            return tuple(c for c in preferred if option_list.option(c) is not None)
        codes = option_list.codes()
        usual = tuple(c for c in codes if c not in RESERVED_OPTIONS)
        return usual or codes


def _calculated(element: Element, result: Any) -> Any:
    """A calculation's result as the element's canonical value (None: the form leaves it empty)."""
    if result is None or (isinstance(result, float) and result != result):  # NaN: unanswered inputs
        return None
    if element.type == "boolean":
        return bool(result)
    if element.type == "integer":
        return int(result)
    if element.type in ("select_one", "text"):
        return str(result) if result != "" else None
    return coerce_value(element, result)
