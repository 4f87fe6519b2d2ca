"""Varsel: cross-border cyber resilience hub."""
