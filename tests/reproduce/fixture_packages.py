"""A tiny package with a vulnerable 1.0 and a fixed 1.1, built in the test as wheels (PyPI) and tarballs (npm),
so reproduction tests need no registry: they install from a local directory (find-links / file tarballs)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

PY_PACKAGE = "chvuln"
JS_PACKAGE = "chvuln-js"

_PY_VULNERABLE = """
import os, re

def read_page(base, name):
    with open(os.path.join(base, name), encoding="utf-8") as handle:
        return handle.read()

def save(base, name, data):
    with open(os.path.join(base, name), "w", encoding="utf-8") as handle:
        handle.write(data)

def render(template):
    return re.sub(r"{{(.*?)}}", lambda m: str(eval(m.group(1))), template)

def parse(text, depth=0):
    if text.startswith("["):
        return [parse(text[1:], depth + 1)]
    return text

def match(text):
    return re.match(r"^(a+)+$", text) is not None

def allocate(size):
    return bytearray(size)

def crash():
    import ctypes
    return ctypes.string_at(0)
"""

_PY_FIXED = """
import os, re

def _inside(base, name):
    path = os.path.realpath(os.path.join(base, name))
    if not path.startswith(os.path.realpath(base) + os.sep):
        raise ValueError("outside the base directory")
    return path

def read_page(base, name):
    with open(_inside(base, name), encoding="utf-8") as handle:
        return handle.read()

def save(base, name, data):
    with open(_inside(base, name), "w", encoding="utf-8") as handle:
        handle.write(data)

def render(template):
    return re.sub(r"{{(.*?)}}", lambda m: m.group(1).strip(), template)

def parse(text, depth=0):
    if depth > 100:
        raise ValueError("nested too deep")
    if text.startswith("["):
        return [parse(text[1:], depth + 1)]
    return text

def match(text):
    return re.match(r"^a+$", text) is not None

def allocate(size):
    if size > 1 << 20:
        raise ValueError("too large")
    return bytearray(size)

def crash():
    return b""
"""

_JS_VULNERABLE = """
function merge(target, source) {
  for (const key of Object.keys(source)) {
    if (typeof source[key] === 'object' && source[key] !== null) {
      if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
      merge(target[key], source[key]);
    } else {
      target[key] = source[key];
    }
  }
  return target;
}
function parse(text) { return text.startsWith('[') ? [parse(text.slice(1))] : text; }
module.exports = { merge, parse };
"""

_JS_FIXED = (
    _JS_VULNERABLE.replace(
        "for (const key of Object.keys(source)) {",
        "for (const key of Object.keys(source)) {\n    if (key === '__proto__' || key === 'constructor') continue;",
    )
    .replace(
        "function parse(text) {", "function parse(text, depth = 0) {\n  if (depth > 100) throw new RangeError('deep');"
    )
    .replace("[parse(text.slice(1))]", "[parse(text.slice(1), depth + 1)]")
)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(directory: Path, version: str, source: str, name: str = PY_PACKAGE, padding: int = 0) -> Path:
    """A pure-Python wheel `name-version-py3-none-any.whl` with one module (plus `padding` bytes of data)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": (source + f"\n__version__ = {version!r}\n").encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if padding:
        files[f"{name}/padding.bin"] = bytes(padding)
    record = [_record_line(path, data) for path, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def build_tarball(directory: Path, version: str, source: str, name: str = JS_PACKAGE) -> Path:
    path = directory / f"{name}-{version}.tgz"
    manifest = json.dumps({"name": name, "version": version, "main": "index.js"}).encode()
    with tarfile.open(path, "w:gz") as archive:
        for member, data in (("package/package.json", manifest), ("package/index.js", source.encode())):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


def build_index(directory: Path) -> Path:
    """The local index: chvuln 1.0 (vulnerable) and 1.1 (fixed) wheels, chvuln-js 1.0 and 1.1 tarballs."""
    directory.mkdir(parents=True, exist_ok=True)
    build_wheel(directory, "1.0", _PY_VULNERABLE)
    build_wheel(directory, "1.1", _PY_FIXED)
    build_tarball(directory, "1.0.0", _JS_VULNERABLE)
    build_tarball(directory, "1.1.0", _JS_FIXED)
    return directory
