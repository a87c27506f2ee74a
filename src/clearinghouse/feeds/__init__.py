"""Feeds that existing clients read unchanged: an OSV-compatible query API (`osv_api`), a CSAF 2.0 provider
(`csaf_provider`, signed by `signing`) and a TAXII 2.1 server (`taxii`, objects built by `stix`).

Every feed reads records through the one access policy (`policy.feeds`): what a caller may read there is exactly
what `GET /api/v1/records/{id}` would show it, so no feed is a side door to AMBER, RED or embargoed records.
"""
