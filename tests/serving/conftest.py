"""A really served instance for HTTP and browser tests: `bentoml serve` in a subprocess on a
free port, its output in a log file the tests can search."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

DEFAULT = object()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`bentoml serve` of the repository's service, or of `serve_args` (e.g. a bento tag)
    with `bentoml` (another environment's command, a path or an argument list; default this
    interpreter's), from `cwd`. Without a registry_root, $RELAPSE_RISK_REGISTRY is left
    unset."""

    def __init__(
        self,
        registry_root,
        tmp,
        key,
        extra_env=None,
        *,
        bentoml=None,
        serve_args=("serving.service:RelapseRisk",),
        cwd=None,
        log_name="server.log",
    ):
        self.key = key
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / log_name
        env = {
            **os.environ,
            "RELAPSE_RISK_API_KEYS": key,
            "RELAPSE_RISK_RELOAD_SECONDS": "0.2",
            "RELAPSE_RISK_HOME": str(tmp / "home"),
            "BENTOML_DO_NOT_TRACK": "True",
            "BENTOML_HOME": str(tmp / "bentoml"),
            **(extra_env or {}),
        }
        env.pop("RELAPSE_RISK_REGISTRY", None)
        if registry_root is not None:
            env["RELAPSE_RISK_REGISTRY"] = str(registry_root)
        if bentoml is None:
            command = [sys.executable, "-m", "bentoml"]
        elif isinstance(bentoml, (list, tuple)):
            command = list(bentoml)
        else:
            command = [bentoml]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [*command, "serve", *serve_args, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
        deadline = time.time() + 90
        while time.time() < deadline and self.proc.poll() is None:
            if self.get("/livez")[0] == 200:
                return
            time.sleep(0.3)
        raise RuntimeError("server did not start:\n" + self.log_path.read_text())

    def request(self, method, path, body=None, key=DEFAULT, raw=None, headers=None):
        key = self.key if key is DEFAULT else key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)
        except (urllib.error.URLError, ConnectionError):
            return 0, b"", {}

    def wait_ready(self, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.get("/readyz")[0] == 200:
                return
            time.sleep(0.2)
        raise RuntimeError("server not ready:\n" + self.log_path.read_text())

    def get(self, path):
        return self.request("GET", path, key=None)

    def post(self, path, body=None, **kw):
        status, content, headers = self.request("POST", path, body, **kw)
        try:
            return status, json.loads(content), headers
        except ValueError:
            return status, content, headers

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def start_server():
    """Start a server: start_server(registry_root, tmp, key, extra_env=None); stop() it."""
    return Server
