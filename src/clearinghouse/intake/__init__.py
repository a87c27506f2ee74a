"""Report intake: submissions, checks, de-duplication, triage and the report lifecycle."""
