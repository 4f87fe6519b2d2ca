"""The reporting engine: significance, obligations and reports, from rules kept as data.

Pure functions over plain data (no database): ``incidents.flows`` feeds them an incident.
"""

from varsel.reporting.facts import FACTS, Profile
from varsel.reporting.obligations import JurisdictionResult, Obligation, assess, flatten
from varsel.reporting.significance import Outcome, Significance

__all__ = [
    "FACTS",
    "JurisdictionResult",
    "Obligation",
    "Outcome",
    "Profile",
    "Significance",
    "assess",
    "flatten",
]
