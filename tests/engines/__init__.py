"""Real XForm engines (JavaRosa, ODK Web Forms) behind one call, for tests of form logic.

See :mod:`runner` for the contract; ``scripts/setup-engines`` installs what the engines need.
"""

from .runner import (
    ALL_ENGINES,
    ENGINES,
    Answer,
    AnswerRejection,
    AnswersRejected,
    EngineFailure,
    EngineResult,
    EngineUnavailable,
    NodeState,
    Violation,
    engines_available,
    fill_form,
    missing_engines_must_fail,
)

__all__ = [
    "ALL_ENGINES",
    "ENGINES",
    "Answer",
    "AnswerRejection",
    "AnswersRejected",
    "EngineFailure",
    "EngineResult",
    "EngineUnavailable",
    "NodeState",
    "Violation",
    "engines_available",
    "fill_form",
    "missing_engines_must_fail",
]
