"""Observable values and the STIX pattern subset over them, below both sides that use them.

:mod:`~varsel.observables.normalize` brings indicator and log values to one canonical text per
kind; :mod:`~varsel.observables.patterns` turns a STIX pattern into the atoms a single-observable
matcher evaluates. The matcher (:mod:`varsel.matching`) and the warning lists checked at ingest
(:mod:`varsel.sharing.ingest.warninglists`) both build on them, so they import nothing of Varsel.
"""
