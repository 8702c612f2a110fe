"""Which simulations match the user's data? Rank a dataset's conditions against a series.

See :func:`match_conditions`; the CLI is ``sbdenoise match SERIES --dataset DIR``.
"""

from sbdenoise.match.api import MatchResult, match_conditions, match_file
from sbdenoise.match.conditions import ConditionScore
from sbdenoise.match.observation import Observation, observe

__all__ = [
    "ConditionScore",
    "MatchResult",
    "Observation",
    "match_conditions",
    "match_file",
    "observe",
]
