"""Incidents as shared workspaces, and the reports each country requires of them."""
