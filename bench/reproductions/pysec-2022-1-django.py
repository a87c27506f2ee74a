# PYSEC-2022-1 (CVE-2021-45115): Django before 3.2.11, UserAttributeSimilarityValidator compares the whole of an
# artificially large password with each user attribute (difflib's SequenceMatcher), taking the CPU for seconds.
from types import SimpleNamespace

from django.conf import settings

settings.configure(USE_I18N=False)
from django.contrib.auth.password_validation import UserAttributeSimilarityValidator  # noqa: E402

user = SimpleNamespace(username="reproduction", first_name="repro", last_name="duction", email="r@example.org")
UserAttributeSimilarityValidator().validate("reproduction" * 20000, user)
