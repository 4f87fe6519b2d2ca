"""Matching shared indicators against telemetry, sightings back, and exports for sensors.

Public entry points (the private modules hold the machinery):

* :func:`compile_for` — the indicators a principal may read, compiled into a fast matcher;
* :func:`scan` — matches of one log file; :data:`LOG_FORMATS` it reads;
* :mod:`varsel.matching.exports`, :mod:`varsel.matching.aggregates`,
  :mod:`varsel.sharing.ingest.warninglists`, :mod:`varsel.matching.flows` (sightings).
"""

from varsel.matching._compile import Compiled, CompileReport, compile_for, compile_rows
from varsel.matching._readers import FORMATS as LOG_FORMATS
from varsel.matching._readers import LogFormatError, ReadStats
from varsel.matching._scan import Match, scan

__all__ = [
    "LOG_FORMATS",
    "CompileReport",
    "Compiled",
    "LogFormatError",
    "Match",
    "ReadStats",
    "compile_for",
    "compile_rows",
    "scan",
]
