# PYSEC-2024-102 (CVE-2024-45230): Django before 4.2.16, urlize() and urlizetrunc() take quadratic time on very
# large inputs with a specific sequence of characters (a long run of '.' and '@' around a word).
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.html import urlize  # noqa: E402

urlize("." * 100_000 + "@" + "." * 100_000)
