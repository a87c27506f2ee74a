# PYSEC-2024-102 (CVE-2024-45230): Django before 4.2.16, urlize() and urlizetrunc() strip trailing punctuation
# around semicolons (kept when the word holds '&', as they might end an entity) one step at a time, rescanning
# the word each time: a very large word of '&' then ';;.' repeated takes quadratic time.
from django.conf import settings

settings.configure(USE_I18N=False)
from django.utils.html import urlize  # noqa: E402

urlize("&a" + ";;." * 50_000)
