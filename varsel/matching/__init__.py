"""Matching shared indicators against telemetry, sightings back, and exports for sensors.

Public entry points (the private modules hold the machinery):

* :func:`compile_for` — the indicators a principal may read, compiled into a fast matcher;
* :func:`scan` — matches of one log file; :data:`LOG_FORMATS` it reads; :func:`parse_mapping`
  of ``--map`` columns;
* :mod:`varsel.matching.exports`, :mod:`varsel.matching.aggregates`,
  :mod:`varsel.sharing.ingest.warninglists`, :mod:`varsel.matching.flows` (sightings).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from varsel.matching._compile import Compiled, CompileReport, compile_for, compile_rows
    from varsel.matching._fields import parse_mapping
    from varsel.matching._readers import FORMATS as LOG_FORMATS
    from varsel.matching._readers import LogFormatError, ReadStats
    from varsel.matching._scan import Match, scan

# Resolved on first use (PEP 562): ``varsel.matching.cli`` is imported by every ``varsel``
# command, ``--help`` included, and the matcher's modules pull in SQLAlchemy, the models and
# NumPy — most of a second that a command which never scans should not pay.
_LAZY = {
    "Compiled": ("_compile", "Compiled"),
    "CompileReport": ("_compile", "CompileReport"),
    "compile_for": ("_compile", "compile_for"),
    "compile_rows": ("_compile", "compile_rows"),
    "parse_mapping": ("_fields", "parse_mapping"),
    "LOG_FORMATS": ("_readers", "FORMATS"),
    "LogFormatError": ("_readers", "LogFormatError"),
    "ReadStats": ("_readers", "ReadStats"),
    "Match": ("_scan", "Match"),
    "scan": ("_scan", "scan"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'varsel.matching' has no attribute {name!r}") from None
    value = getattr(import_module(f"varsel.matching.{module}"), attribute)
    globals()[name] = value
    return value


__all__ = [
    "LOG_FORMATS",
    "CompileReport",
    "Compiled",
    "LogFormatError",
    "Match",
    "ReadStats",
    "compile_for",
    "compile_rows",
    "parse_mapping",
    "scan",
]
