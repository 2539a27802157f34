"""The inputs an attacker tries first, against every operation of /openapi.json: NULs and other
control characters, percent-encoded and mixed-case spellings, huge and degenerate values, in path
parameters, query parameters, every JSON field and key, multipart text fields and files, and raw
bytes the HTTP parser sees. Run by scripts/fuzz.sh on each backend (SQLite and PostgreSQL).

Every answer must be a non-5xx with the contract's error body ({"detail", "code"}) when it is an
error. The one exception is a request that is not HTTP at all (a control character in the request
line or a header): the HTTP parser answers it `400` with an empty body before the application
sees it (docs/api.md says so), which is accepted for the raw-socket cases only. Exits 1 listing
each request that broke a rule, with the exact request and answer.

One user is signed up and logged in once; its token is reused, and a new one is taken only after
a request that revoked it (a logout, also under an encoded spelling of its path). Set
BEING_SOCIAL_URL to the server's base URL; FUZZ_VERBOSE=1 prints every request with its answer.
"""

import gzip
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

BASE = os.environ["BEING_SOCIAL_URL"]
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port
USER = {"email": "edges@example.com", "full_name": "Edges", "password": "edges-password"}
OTHER_USER = {"email": "edges-other@example.com", "full_name": "Other", "password": "other-password"}

# Raw path segments, sent as they are (already percent-encoded where needed).
SEGMENTS = ["%00", "a%00b", "1%00", "%001", "%2e%2e", "%25", "%ff%fe", "%0d%0a", "-1", "0",
            "99999999999999999999", "%F0%9F%98%80", "A" * 3000, "%6C%6F%67%69%6E",
            "edges%40example.com%00", "%00edges%40example.com", "edges%00%40example.com",
            "EDGES%40EXAMPLE.COM%00", "%c0%80", "%ed%a0%80"]
QUERY = ["%00", "a%00", "-1", "0", "99999999999999999999", "%ff", "A" * 3000, "%c0%80",
         "1&limit=%00", "%ed%a0%80"]
STRINGS = ["\u0000", "a\u0000b", "\u0000" * 100, "\ud7ff\u0001\u001f", "\ud800", "x" * 100_000,
           "", " \u0000 "]
OTHER = [12345, -1, 1e308, True, None, [], {}, ["\u0000"], {"a": "\u0000"}]
# JSON objects whose keys hold a NUL (the fields themselves are added per operation).
NUL_KEYS = ["\u0000", "a\u0000b", "\u0000" * 50]
# JSON bodies as raw bytes: invalid UTF-8, an overlong NUL, a lone surrogate, deep nesting,
# duplicate keys, trailing garbage, not an object.
RAW_JSON = [b'{"x": "\xff"}', b'{"x": "\xc0\x80"}', b'{"x": "\\ud800"}', b'{"\xff": 1}',
            b"[" * 5000 + b"]" * 5000, b'{"x": 1, "x": "\\u0000"}', b'{"x": 1} trailing',
            b'"\\u0000"', b"\x00", b"{\x00}", b"null"]

# Right values of the other fields, for the operations that need them all.
BASES = {
    ("POST", "/accounts/signup/"): lambda: {"email": f"edges-{uuid.uuid4().hex[:12]}@example.com",
                                            "full_name": "Edge", "password": "edges-password"},
    ("POST", "/accounts/login/"): lambda: {"email": USER["email"], "password": USER["password"]},
}
VERBOSE = os.environ.get("FUZZ_VERBOSE") == "1"
REVOKING = {("POST", "/accounts/logout/"), ("POST", "/accounts/logout-all/")}


def png(width, height, depth=8, color=0, pixels=None):
    """A PNG of zero-valued pixels (grey by default), or with the raw scanlines `pixels`."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    if pixels is None:
        pixels = (b"\x00" * (1 + width)) * height
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels, 9))
            + chunk(b"IEND", b""))


TINY_PNG = png(1, 1)


def multipart(parts):
    """A multipart/form-data body of (name, value, filename or None) parts, all bytes."""
    boundary = uuid.uuid4().hex.encode()
    out = b""
    for name, value, filename in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\""
        if filename is not None:
            out += b"; filename=\"" + filename + b"\"\r\nContent-Type: image/png"
        out += b"\r\n\r\n" + value + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary.decode()


def send(method, path, data=None, content_type=None, token=None, headers=None):
    """One request through urllib; (status, body bytes, seconds)."""
    all_headers = dict(headers or {})
    if content_type:
        all_headers["Content-Type"] = content_type
    if token:
        all_headers["Authorization"] = f"Token {token}"
    req = urllib.request.Request(BASE + path, data=data, headers=all_headers, method=method)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, response.read(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read(), time.monotonic() - started


def send_raw(data):
    """Bytes straight onto a socket (for what urllib refuses to send); (status, body bytes)."""
    with socket.create_connection((HOST, PORT), timeout=60) as sock:
        sock.sendall(data)
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    return status, body


def json_body(value):
    return json.dumps(value).encode(), "application/json"


def error_problem(status, raw):
    """What is wrong with an answer, or None."""
    if status >= 500 or status == 0:
        return f"status {status}"
    if status >= 400:
        try:
            answer = json.loads(raw)
        except ValueError:
            return "error body not JSON"
        if not (isinstance(answer, dict) and isinstance(answer.get("detail"), str)
                and isinstance(answer.get("code"), str)):
            return "error body without detail/code"
    return None


class Run:
    def __init__(self):
        self.sent = 0
        self.failures = []
        self.parser_answers = 0
        self.slowest = []
        self._token = None

    # -- the user and its token ------------------------------------------------------------------

    def login(self, user=USER):
        send("POST", "/accounts/signup/", *json_body(user))
        status, raw, _ = send("POST", "/accounts/login/",
                              *json_body({"email": user["email"], "password": user["password"]}))
        if status != 200:
            sys.exit(f"cannot log in {user['email']}: {status} {raw[:200]!r}")
        return json.loads(raw)["token"]

    def token(self):
        if self._token is None:
            self._token = self.login()
        return self._token

    def forget_token(self):
        self._token = None

    # -- checks ------------------------------------------------------------------------------------

    def record(self, method, path, data, status, raw, problem, seconds=0.0):
        self.sent += 1
        self.slowest = sorted(self.slowest + [(seconds, method, path[:100])], reverse=True)[:3]
        if VERBOSE:
            print(f"  {status} {method} {path[:100]} {(data or b'')[:60]!r} -> {raw[:100]!r}")
        if problem:
            shown = data if data is None or len(data) <= 300 else data[:300] + b"..."
            self.failures.append(f"{method} {path[:200]} body={shown!r}: {problem}; "
                                 f"answer {status} {raw[:300]!r}")

    def check(self, method, path, data=None, content_type=None, auth=True, template=None,
              headers=None):
        token = self.token() if auth else None
        status, raw, seconds = send(method, path, data, content_type, token, headers)
        if auth and status == 401 and _code(raw) in ("not_authenticated", "token_expired"):
            # An earlier request revoked the token (a logout under a spelling of its own):
            # log in again and send this one anew, so that it reaches its handler.
            self.forget_token()
            status, raw, seconds = send(method, path, data, content_type, self.token(), headers)
        if (method, template) in REVOKING and status < 300:
            self.forget_token()
        self.record(method, path, data, status, raw, error_problem(status, raw), seconds)
        return status, raw

    def check_raw(self, label, data, may_close=False):
        """A request sent as bytes. The HTTP parser may refuse it (400, empty body), and a head
        too large for its buffer (`may_close`) may be cut off without an answer."""
        try:
            status, body = send_raw(data)
        except OSError as error:
            problem = None if may_close else f"no answer ({error})"
            self.record("RAW", label, data[:200], 0, repr(error).encode(), problem)
            return
        if status == 0 and may_close:
            self.record("RAW", label, data[:200], 0, body, None)
            return
        problem = error_problem(status, body)
        if problem and status in (400, 431) and body == b"":
            self.parser_answers += 1
            problem = None
        self.record("RAW", label, data[:200], status, body, problem)


def _code(raw):
    try:
        return json.loads(raw).get("code")
    except (ValueError, AttributeError):
        return None


def fields(operation, document):
    """Names of the JSON body's fields of an operation (none when it takes no JSON)."""
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    ref = schema.get("$ref")
    if ref:
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return list(schema.get("properties", {}))


def spellings(path):
    """Other spellings of a path: letter case, percent-encoded letters, extra slashes and dots."""
    encoded_all = "".join(f"%{ord(c):02X}" if c.isalpha() else c for c in path)
    encoded_lower = "".join(f"%{ord(c):02x}" if c.isalpha() else c for c in path)
    first = next((i for i, c in enumerate(path) if c.isalpha()), 0)
    one_encoded = path[:first] + f"%{ord(path[first]):02X}" + path[first + 1:]
    return [path.upper(), path.title(), encoded_all, encoded_lower, one_encoded, "/" + path,
            path.rstrip("/") + "//", path.replace("/", "/./", 1), path.rstrip("/") + "%2F",
            path.rstrip("/") + "%00/", path.rstrip("/") + "/%2e%2e/", path.rstrip("/") + ";x=1/"]


def main():
    run = Run()
    document = json.loads(send("GET", "/openapi.json")[1])

    # Fixtures, so that requests with sane ids reach the handlers' own checks: the edge user, a
    # second user (to follow), a post of the edge user with a comment.
    other = json.loads(send("GET", "/accounts/me/", token=run.login(OTHER_USER))[1])
    me = json.loads(send("GET", "/accounts/me/", token=run.token())[1])
    body, content_type = multipart([(b"image", TINY_PNG, b"a.png"), (b"caption", b"edges", None)])
    status, raw, _ = send("POST", "/posts/create/", body, content_type, run.token())
    if status != 201:
        sys.exit(f"cannot create the edge post: {status} {raw[:200]!r}")
    post = json.loads(raw)
    status, raw, _ = send("POST", f"/posts/post-comment/{post['id']}/",
                          *json_body({"content": "edges"}), run.token())
    if status != 201:
        sys.exit(f"cannot create the edge comment: {status} {raw[:200]!r}")
    comment = json.loads(raw)
    media_key = post["image_url"].rsplit("/", 1)[-1]

    def sane(template, name):
        if name == "user":
            return str(me["id"])
        if name == "key":
            return media_key
        if name == "comment_id":
            return str(comment["id"])
        if template.startswith("/accounts/"):
            return str(other["id"])
        return str(post["id"])

    email = urllib.parse.quote(me["email"], safe="")
    user_segments = [f"{email}%00", f"%00{email}", email.replace("%40", "%00%40"),
                     f"{me['id']}%00", f"%00{me['id']}", email.upper() + "%00"]

    # 1. Every operation: edge values in path parameters, query parameters and JSON fields; NULs
    #    in JSON keys; raw JSON bytes; other spellings of its path.
    spelled = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            method = method.upper()
            if template.startswith("/docs") or method == "DELETE" and "{user}" in template:
                continue  # deleting the account only logs the next check in again: covered
            params = operation.get("parameters", [])
            names = [p["name"] for p in params if p["in"] == "path"]
            segments = SEGMENTS + (user_segments if "user" in names else [])
            for segment in segments if names else []:
                path = template
                for name in names:
                    path = path.replace("{" + name + "}", segment)
                run.check(method, path, template=template)
                if "user" in names and method == "GET":
                    run.check(method, path, auth=False, template=template)
            concrete = template
            for name in names:
                concrete = concrete.replace("{" + name + "}", sane(template, name))
            for name in [p["name"] for p in params if p["in"] == "query"]:
                for value in QUERY:
                    run.check(method, f"{concrete}?{name}={value}", template=template)
            body_fields = fields(operation, document)
            base = BASES.get((method, template))
            for name in body_fields:
                for value in STRINGS + OTHER:
                    run.check(method, concrete, *json_body({name: value}), template=template)
                    if base:
                        # The other fields right, so that this one's value goes all the way.
                        run.check(method, concrete, *json_body({**base(), name: value}),
                                  template=template)
            if body_fields:
                for key in NUL_KEYS:
                    run.check(method, concrete, *json_body({key: "x"}), template=template)
                    run.check(method, concrete,
                              *json_body({body_fields[0] + key: "x", key + body_fields[0]: 1}),
                              template=template)
                    run.check(method, concrete,
                              *json_body({body_fields[0]: {key: ["\u0000"]}}), template=template)
                for raw_json in RAW_JSON:
                    run.check(method, concrete, raw_json, "application/json", template=template)
                compressed = gzip.compress(json.dumps({body_fields[0]: "x"}).encode())
                run.check(method, concrete, compressed, "application/json", template=template,
                          headers={"Content-Encoding": "gzip"})
            # Last: a spelling that reaches its handler may delete a fixture or log out.
            spelled += [(method, path, template) for path in spellings(concrete)]
    for method, path, template in spelled:
        run.check(method, path, template=template)

    # 2. The rate-limited paths under other spellings (this server runs RATE_LIMITS=off: only the
    #    answers are checked here; tests/api/ratelimit.rs checks the counting).
    login = json_body({"email": USER["email"], "password": USER["password"]})
    for path in spellings("/accounts/login/") + ["/accounts/%6Cogin/", "/accounts/%6cogin",
                                                  "/ACCOUNTS/LOGIN/", "/accounts/LOGIN/",
                                                  "/accounts/login%2f", "/accounts/lo%67in/"]:
        run.check("POST", path, *login, auth=False)
    for i, path in enumerate(spellings("/accounts/signup/") + ["/accounts/%73ignup/",
                                                               "/ACCOUNTS/SIGNUP/",
                                                               "/accounts/sign%75p"]):
        signup = {"email": f"edges-{i}@example.com", "full_name": "E", "password": "edges-password"}
        run.check("POST", path, *json_body(signup), auth=False)

    # 3. Multipart: NULs and bytes that are not UTF-8 in text fields, field names and file names;
    #    degenerate and oversized pictures.
    texts = [b"\x00", b"a\x00b", b"\x00" * 100, b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80"]
    create = []
    for field in (b"caption", b"alt_text"):
        for text in texts:
            create.append([(b"image", TINY_PNG, b"a.png"), (field, text, None)])
    create += [
        [(b"image", TINY_PNG, b"a\x00.png")],
        [(b"image", TINY_PNG, b"a.png"), (b"cap\x00tion", b"x", None)],
        [(b"im\x00age", TINY_PNG, b"a.png")],
        [(b"image", b"", b"a.png")],
        [(b"image", TINY_PNG[:40], b"a.png")],
        [(b"image", png(0, 1, pixels=b"\x00"), b"a.png")],
        [(b"image", png(100_000, 100_000, pixels=b"\x00"), b"a.png")],
        [(b"image", png(2**31 - 1, 2**31 - 1, pixels=b"\x00"), b"a.png")],
        [(b"image", png(8, 8, depth=16, color=6, pixels=b"\x00" * 8), b"a.png")],
        [(b"image", b"GIF89a\xff\xff\xff\xff\x00\x00\x00;", b"a.gif")],
        [(b"image", b"\xff\xd8\xff\xe0" + b"\x00" * 64, b"a.jpg")],
        [(b"image", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"a.webp")],
        [(b"image", b"\x00" * 1000, b"a.png")],
    ]
    for parts in create:
        run.check("POST", "/posts/create/", *multipart(parts), template="/posts/create/")
    profile = f"/accounts/{me['id']}/"
    for field in (b"full_name", b"bio", b"password", b"current_password"):
        for text in texts:
            run.check("PATCH", profile, *multipart([(field, text, None)]),
                      template="/accounts/{user}/")
    for parts in ([(b"avatar", TINY_PNG, b"a.png"), (b"bio", b"a\x00b", None)],
                  [(b"avatar", png(100_000, 100_000, pixels=b"\x00"), b"a.png")],
                  [(b"avatar", b"\x00" * 100, b"a.png")]):
        run.check("PATCH", profile, *multipart(parts), template="/accounts/{user}/")
    edit = f"/posts/edit/{post['id']}/"
    for text in texts:
        run.check("PATCH", edit, *multipart([(b"caption", text, None)]),
                  template="/posts/edit/{id}/")
    # Broken multipart framing.
    for data, content_type in [(b"--x\r\n\x00\r\n--x--", "multipart/form-data; boundary=x"),
                               (b"garbage", "multipart/form-data; boundary="),
                               (b"garbage", "multipart/form-data"),
                               (b"--x\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n"
                                b"\x00", "multipart/form-data; boundary=x")]:
        run.check("POST", "/posts/create/", data, content_type, template="/posts/create/")

    # 4. Bytes that are not HTTP, or headers the application reads: the parser may refuse them.
    token = run.token().encode()
    host = f"{HOST}:{PORT}".encode()
    def raw(request_line, *headers, body=b""):
        return (request_line + b"\r\nHost: " + host + b"\r\n" + b"".join(h + b"\r\n" for h in headers)
                + b"Connection: close\r\n\r\n" + body)
    raw_cases = [
        ("NUL in the path", raw(b"GET /accounts/m\x00e/ HTTP/1.1")),
        ("NUL in a {user} path", raw(b"GET /accounts/edges\x00@example.com/ HTTP/1.1")),
        ("byte 0xff in the path", raw(b"GET /accounts/\xff/ HTTP/1.1")),
        ("tab in the path", raw(b"GET /accounts/m\te/ HTTP/1.1")),
        ("NUL in the query", raw(b"GET /posts/post-feed/?limit=\x00 HTTP/1.1",
                                 b"Authorization: Token " + token)),
        ("NUL in the token", raw(b"GET /accounts/me/ HTTP/1.1", b"Authorization: Token \x00" + token)),
        ("control character after the token",
         raw(b"GET /accounts/me/ HTTP/1.1", b"Authorization: Token " + token + b"\x01")),
        ("byte 0xff in the token", raw(b"GET /accounts/me/ HTTP/1.1", b"Authorization: Token \xff")),
        ("byte 0xff in the scheme", raw(b"GET /accounts/me/ HTTP/1.1", b"Authorization: \xff abc")),
        ("a token of 8 KiB", raw(b"GET /accounts/me/ HTTP/1.1", b"Authorization: Token " + b"a" * 8192)),
        ("NUL in Content-Type", raw(b"POST /accounts/login/ HTTP/1.1",
                                    b"Content-Type: application/json\x00", b"Content-Length: 2",
                                    body=b"{}")),
        ("byte 0xff in Content-Type", raw(b"POST /accounts/login/ HTTP/1.1", b"Content-Type: \xff",
                                          b"Content-Length: 2", body=b"{}")),
        ("byte 0xff in X-Request-Id", raw(b"GET /healthz HTTP/1.1", b"X-Request-Id: \xff\xfe")),
        ("byte 0xff in Host", b"GET /accounts/1/ HTTP/1.1\r\nHost: \xff\r\nConnection: close\r\n\r\n"),
        ("byte 0xff in X-Forwarded-For", raw(b"POST /accounts/login/ HTTP/1.1",
                                             b"X-Forwarded-For: \xff", b"Content-Length: 2",
                                             body=b"{}")),
        ("a forged Forwarded header", raw(b"GET /accounts/1/ HTTP/1.1",
                                          b"Forwarded: host=\"a\\\"b\";proto=javascript",
                                          b"X-Forwarded-Host: \xff")),
        ("100 headers", raw(b"GET /healthz HTTP/1.1", *[b"X-H%d: v" % i for i in range(100)])),

        ("an unknown method", raw(b"PROPFIND /accounts/me/ HTTP/1.1")),
        ("a method with a NUL", raw(b"GE\x00T /healthz HTTP/1.1")),
        ("HTTP/0.9", b"GET /healthz\r\n\r\n"),
        ("a negative Content-Length", raw(b"POST /accounts/login/ HTTP/1.1", b"Content-Length: -1",
                                          body=b"{}")),
        ("two Content-Lengths", raw(b"POST /accounts/login/ HTTP/1.1", b"Content-Length: 2",
                                    b"Content-Length: 3", body=b"{}")),
        ("a bad chunk size", raw(b"POST /accounts/login/ HTTP/1.1", b"Transfer-Encoding: chunked",
                                 body=b"zz\r\n{}\r\n0\r\n\r\n")),
    ]
    for label, data in raw_cases:
        run.check_raw(label, data)
    # Past its 128 KiB buffer the parser closes the connection without an answer.
    run.check_raw("a header of 200 KiB", raw(b"GET /healthz HTTP/1.1", b"X-Big: " + b"a" * 200_000),
                  may_close=True)
    for method in ("PROPFIND", "TRACE", "CONNECT", "OPTIONS", "FOO"):
        run.check(method, "/accounts/me/", auth=False)
        run.check(method, "/no/such/path/", auth=False)

    status, raw_health, _ = send("GET", "/healthz")
    if status != 200:
        run.failures.append(f"the server no longer answers /healthz: {status} {raw_health[:200]!r}")

    label = os.environ.get("FUZZ_BACKEND", "")
    print(f"edge cases{' on ' + label if label else ''}: {run.sent} requests, "
          f"{len(run.failures)} failures ({run.parser_answers} refused by the HTTP parser with an "
          "empty 400/431, as docs/api.md says)")
    print("  slowest: " + ", ".join(f"{m} {p} {s:.2f} s" for s, m, p in run.slowest))
    for failure in run.failures:
        print("  " + failure)
    sys.exit(1 if run.failures else 0)


if __name__ == "__main__":
    main()
