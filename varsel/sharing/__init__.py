"""STIX 2.1 sharing: collections, objects, markings and validation."""
