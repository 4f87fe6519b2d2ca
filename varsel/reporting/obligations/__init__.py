"""Which reports an incident owes, to whom, by when: the obligations engine.

Input is plain data (the entity profile, the impact facts, what was already submitted and the
time now); output is one :class:`JurisdictionResult` per country the entity is established in
or serves, each either with its obligations or with the reason none are owed. Every deadline
says which rule produced it and whether that rule is verified.

The private modules, by what they hold: ``_results`` (the result types), ``_significance``
(which significance test applies), ``_deadlines`` (one jurisdiction's deadlines and
obligations) and ``_assess`` (the entry points, country by country).
"""

from __future__ import annotations

from varsel.reporting.obligations._assess import assess, flatten
from varsel.reporting.obligations._results import JurisdictionResult, Obligation, iso
from varsel.reporting.obligations._significance import dora_significance, nis2_significance

__all__ = [
    "JurisdictionResult",
    "Obligation",
    "assess",
    "dora_significance",
    "flatten",
    "iso",
    "nis2_significance",
]
