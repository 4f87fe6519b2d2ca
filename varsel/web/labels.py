"""Names of the values the pages show (roles, states, kinds …), as gettext messages.

A template writes ``label_of("role", user.role)``; the English text here is the message id that
``pybabel extract`` finds (``N_`` marks it) and each language's ``.po`` catalogue translates.
"""

# ruff: noqa: E501 - messages are kept on one line each, as translators see them
from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker
    """Mark ``message`` for extraction; translated where it is shown."""
    return message


LABELS: dict[str, dict[str, str]] = {
    "login": {
        "failed": N_("Wrong username or password."),
        "locked": N_(
            "Too many failed sign-ins for this account from your address. Wait a little (the wait doubles with each failure) and try again."
        ),
        "throttled": N_("Too many failed sign-ins from your address. Wait a minute and try again."),
    },
    "error": {
        "title": N_("Error %(status)s"),
        "400": N_("The request could not be used"),
        "401": N_("You need to sign in"),
        "403": N_("You may not do this"),
        "404": N_("Not found"),
        "405": N_("Not allowed here"),
        "409": N_("Already exists"),
        "413": N_("Too large"),
        "429": N_("Too many attempts"),
        "500": N_("Something went wrong on the hub; it was logged"),
        "home": N_("Back to the home page"),
    },
    "exports.format": {
        "suricata": N_("Suricata rules for addresses, domains, URLs and file hashes"),
        "suricata-dataset": N_(
            "Suricata dataset: one value a line; choose exactly one of the types address, domain, URL, e-mail, MD5 or SHA-256"
        ),
        "zeek": N_("Zeek intel framework file"),
        "plain": N_("Plain list, one value a line"),
        "csv": N_("CSV with indicator id, type, value and name"),
        "stix": N_("STIX 2.1 bundle of the indicators"),
    },
    "exports.type": {
        "ip": N_("IP addresses"),
        "cidr": N_("Address ranges (CIDR)"),
        "domain": N_("Domain names"),
        "url": N_("URLs"),
        "email": N_("E-mail addresses"),
        "md5": N_("MD5 hashes"),
        "sha1": N_("SHA-1 hashes"),
        "sha256": N_("SHA-256 hashes"),
        "sha512": N_("SHA-512 hashes"),
    },
    "kind": {
        "ipv4": N_("IPv4 address or CIDR"),
        "ipv6": N_("IPv6 address or CIDR"),
        "domain": N_("Domain name"),
        "url": N_("URL"),
        "email": N_("E-mail address"),
        "md5": N_("File hash: MD5"),
        "sha1": N_("File hash: SHA-1"),
        "sha256": N_("File hash: SHA-256"),
        "sha512": N_("File hash: SHA-512"),
    },
    "role": {
        "analyst": N_("Analyst"),
        "org-admin": N_("Organisation admin"),
        "hub-admin": N_("Hub admin"),
    },
    "clr.scope": {
        "national": N_("National"),
        "nato": N_("NATO"),
        "eu": N_("EU"),
    },
    "clr.state": {
        "declared": N_("Declared"),
        "verified": N_("Verified"),
        "recognised": N_("Recognised"),
    },
    "clr.status": {
        "pending": N_("Pending"),
        "approved": N_("Approved"),
        "refused": N_("Refused"),
        "withdrawn": N_("Withdrawn"),
    },
    "clr.channel": {
        "email": N_("E-mail"),
        "outbox": N_("Outbox"),
    },
    "clr.notice": {
        "sent": N_("Sent"),
        "recorded": N_("Recorded"),
        "failed": N_("Failed (retried)"),
    },
    "notice": {
        "person_added": N_("The person was added to the register."),
        "clearance_added": N_(
            "The clearance was added as declared; verify it once you have seen the certificate."
        ),
        "clearance_verified": N_("The clearance was verified."),
        "clearance_revoked": N_("The clearance was revoked; it grants nothing from now on."),
        "recognition_requested": N_("The recognition request was sent."),
        "recognition_approved": N_("The recognition was approved."),
        "recognition_refused": N_("The recognition was refused."),
        "user_disabled": N_(
            "The account is disabled; its sessions ended and its tokens were revoked."
        ),
        "user_enabled": N_("The account is enabled again. Its old tokens stay revoked."),
        "member_requested": N_(
            "The membership is proposed. It takes effect when an org-admin of another member organisation approves it."
        ),
        "request_approved": N_("Approved: the organisation is a member now."),
        "request_refused": N_("The proposed membership was refused."),
        "user_created": N_("The user was added."),
        "role_changed": N_("The role was changed; it applies at once."),
        "token_revoked": N_("The token was revoked."),
        "member_added": N_("The organisation was added to the community."),
        "member_removed": N_("The organisation was removed from the community."),
        "community_created": N_("The community was created."),
        "visibility_changed": N_("The community's visibility was changed."),
        "collection_created": N_("The collection was created."),
        "misp_collection_set": N_("Where the organisation's MISP events land was set."),
        "misp_group_set": N_("The sharing group was mapped."),
        "misp_group_removed": N_(
            "The sharing group's mapping was removed; its items go to their producer only."
        ),
        "misp_ceilings_set": N_("The distribution ceilings were saved."),
        "incident_created": N_("The incident was opened; your organisation leads it."),
        "incident_updated": N_("The incident was changed."),
        "participant_added": N_("The participant was added."),
        "participant_removed": N_("The participant was removed."),
        "entry_added": N_("The entry was added to the timeline."),
        "task_added": N_("The task was added."),
        "task_changed": N_("The task was changed."),
        "object_linked": N_("The object was linked."),
        "profile_saved": N_("The entity profile was saved."),
        "facts_saved": N_("The impact facts were saved."),
        "submission_recorded": N_("The submission was recorded in the audit log."),
        "prefs_saved": N_("Where your alerts go was saved."),
        "watch_added": N_("The value is watched from now on."),
        "watch_removed": N_("The value is no longer watched."),
        "filter_saved": N_("The filter was saved."),
        "filter_removed": N_("The saved filter was removed."),
    },
    "admin.scope": {
        "read": N_("Read only"),
        "read-write": N_("Read and write"),
    },
    "istatus": {
        "open": N_("Open"),
        "contained": N_("Contained"),
        "resolved": N_("Resolved"),
        "closed": N_("Closed"),
    },
    "severity": {
        "low": N_("Low"),
        "medium": N_("Medium"),
        "high": N_("High"),
        "critical": N_("Critical"),
    },
    "prole": {
        "lead": N_("Lead"),
        "affected": N_("Affected"),
        "responder": N_("Responder"),
        "authority": N_("Authority"),
        "observer": N_("Observer"),
    },
    "tkind": {
        "note": N_("Note"),
        "action": N_("Action"),
        "mitigation": N_("Mitigation"),
        "communication": N_("Communication"),
        "finding": N_("Finding"),
    },
    "outcome": {
        "significant": N_("significant"),
        "not-significant": N_("not significant"),
        "undetermined": N_("undetermined"),
    },
    "crit": {
        "met": N_("met"),
        "not-met": N_("not met"),
        "unknown": N_("unknown"),
    },
    "status": {
        "due": N_("due"),
        "overdue": N_("overdue"),
        "submitted": N_("submitted"),
        "on-request": N_("on request"),
        "unknown": N_("deadline unknown"),
    },
    "op": {
        "approve": N_("Approve"),
        "refuse": N_("Refuse"),
    },
    # Kinds of watched values (alerts, docs/alerts.md).
    "watch": {
        "ip": N_("Address"),
        "cidr": N_("Address block"),
        "domain": N_("Domain and subdomains"),
        "url": N_("URL"),
        "email": N_("E-mail address"),
        "hash": N_("Hash"),
    },
    # Readable lists and bulk actions (issue 15) -----------------------------------------
    "exports.age": {
        "": N_("Any time"),
        "24h": N_("The last 24 hours"),
        "7d": N_("The last 7 days"),
        "30d": N_("The last 30 days"),
        "90d": N_("The last 90 days"),
        "365d": N_("The last year"),
    },
    "bulk.action": {
        "copy": N_("Share into another collection"),
        "reshare": N_("Re-share TLP:AMBER to a client"),
        "revoke": N_("Revoke"),
    },
    "bulk.outcome": {
        "done": N_("done"),
        "refused": N_("refused"),
        "unchanged": N_("already so"),
    },
}
