"""Schemathesis hooks for scripts/fuzz.sh: authentication with a real user of the server.

The token comes from logging in (after signing up the first time). The generated requests may log
that token out or delete the account itself; a 401 then makes schemathesis ask for a token again
(`retry_on`), and this logs in anew (signing up again if the account is gone).
"""

import json
import os
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["BEING_SOCIAL_URL"]
USER = {"email": "fuzz@example.com", "full_name": "Fuzz", "password": "fuzz-password"}


def post(path, body):
    request = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


@schemathesis.auth(retry_on=[401])
class Login:
    def get(self, case, context):
        credentials = {"email": USER["email"], "password": USER["password"]}
        status, body = post("/accounts/login/", credentials)
        if status == 401:
            post("/accounts/signup/", USER)
            status, body = post("/accounts/login/", credentials)
        if status != 200:
            raise RuntimeError(f"cannot log in the fuzzing user: {status}")
        return body["token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Token {data}"
