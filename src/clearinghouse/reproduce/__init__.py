"""Reproductions of reported vulnerabilities in the sandbox (issue 17)."""
