"""STIX 2.1 object validation: the facts the hub indexes, or a precise one-line reason."""

from varsel.sharing.validation._common import InvalidStixObject, parse_timestamp, timestamp_key
from varsel.sharing.validation._object import ValidatedObject, validate_object
from varsel.sharing.validation._rules import SCO_TYPES, SDO_TYPES, SRO_TYPES

__all__ = [
    "SCO_TYPES",
    "SDO_TYPES",
    "SRO_TYPES",
    "InvalidStixObject",
    "ValidatedObject",
    "parse_timestamp",
    "timestamp_key",
    "validate_object",
]
