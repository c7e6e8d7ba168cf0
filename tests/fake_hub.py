"""A tiny in-process stand-in for the Hugging Face Hub HTTP API (tests only).

It serves just the routes that the *real* ``huggingface_hub`` client calls for
``create_repo``, ``upload_folder`` (plain "regular" uploads: file bytes inlined in the
NDJSON commit, so neither LFS nor Xet storage is involved), ``create_tag``,
``repo_info`` / ``model_info``, ``list_repo_tree``, ``snapshot_download`` and
``hf_hub_download``.  Start it with ``with FakeHub() as hub:`` and give
``hub.endpoint`` (``http://127.0.0.1:<port>``) to ``HfApi(endpoint=...)`` /
``snapshot_download(endpoint=...)``.  Routes it does not know answer 404 and are
recorded in ``hub.unknown`` so a client upgrade that calls something new is easy to
diagnose.

Known to work with huggingface_hub >=1.0,<3 (written against 2.4.0, whose source was
read to learn the routes and the response headers: ETag, X-Repo-Commit,
Content-Length, X-Error-Code).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob, which is what the Hub reports as a file's ``oid``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _new_sha() -> str:
    return hashlib.sha1(uuid.uuid4().bytes).hexdigest()


class _Repo:
    def __init__(self) -> None:
        initial = _new_sha()  # like the Hub, a new repo starts with one (here: empty) commit on main
        self.commits: dict[str, dict[str, bytes]] = {initial: {}}  # commit sha -> {path: bytes}
        self.refs: dict[str, str] = {"main": initial}  # branch / tag -> commit sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.refs.get(revision)


class FakeHub:
    """Loopback HTTP server speaking the subset of the Hub API used by keras_voidseg."""

    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.unknown: list[str] = []
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- state changes ---------------------------------------------------------------
    def commit(self, repo_id: str, revision: str, lines: list[dict]) -> str:
        repo = self.repos[repo_id]
        files = dict(repo.commits[repo.resolve(revision)])
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key != "header":
                raise ValueError(f"fake hub does not support commit line {key!r}")
        sha = _new_sha()
        repo.commits[sha] = files
        repo.refs[revision] = sha
        return sha


def _make_handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        # ---- plumbing ------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, obj, status: int = 200, headers: dict | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
            self._json({"error": message}, status, {"X-Error-Code": code, **(headers or {})})

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _repo_and_commit(self, repo_id: str, revision: str):
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                return None, None
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return None, None
            return repo, sha

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            query = parse_qs(url.query)
            hub.requests.append(f"{self.command} {url.path}")
            method = self.command
            if method == "POST" and parts == ["api", "repos", "create"]:
                return self._create_repo()
            if method == "POST" and parts == ["api", "validate-yaml"]:
                return self._validate_yaml()
            if len(parts) >= 5 and parts[:2] == ["api", "models"]:
                repo_id, action, rest = f"{parts[2]}/{parts[3]}", parts[4], parts[5:]
                if method == "POST" and action == "preupload":
                    return self._preupload()
                if method == "POST" and action == "commit":
                    return self._commit(repo_id, "/".join(rest))
                if method == "POST" and action in ("tag", "branch"):
                    return self._ref(repo_id, action, "/".join(rest))
                if method == "GET" and action == "revision":
                    return self._info(repo_id, "/".join(rest))
                if method == "GET" and action == "tree" and rest:
                    return self._tree(repo_id, rest[0], "/".join(rest[1:]), query)
            if len(parts) == 4 and parts[:2] == ["api", "models"] and method == "GET":
                return self._info(f"{parts[2]}/{parts[3]}", "main")
            if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
                return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            hub.unknown.append(f"{method} {self.path}")
            self._error(404, "NotFound", f"fake hub: unknown route {method} {self.path}")

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

        # ---- routes --------------------------------------------------------------------
        def _create_repo(self) -> None:
            payload = json.loads(self._body())
            repo_id = f"{payload['organization']}/{payload['name']}"
            body = {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id}
            if repo_id in hub.repos:  # the real Hub also sends the url with its 409
                return self._json({**body, "error": "You already created this model repo"}, 409)
            hub.repos[repo_id] = _Repo()
            self._json(body)

        def _validate_yaml(self) -> None:
            content = json.loads(self._body())["content"]
            if content.startswith("---"):
                try:
                    meta = yaml.safe_load(content.split("---", 2)[1])
                except yaml.YAMLError as exc:
                    return self._json({"errors": [{"message": str(exc)}]}, 400)
                if meta is not None and not isinstance(meta, dict):
                    return self._json({"errors": [{"message": "metadata must be a mapping"}]}, 400)
            self._json({"errors": [], "warnings": []})

        def _preupload(self) -> None:
            files = json.loads(self._body())["files"]
            self._json(
                {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
            )

        def _commit(self, repo_id: str, revision: str) -> None:
            if self._repo_and_commit(repo_id, revision)[0] is None:
                return
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            try:
                sha = hub.commit(repo_id, revision, lines)
            except ValueError as exc:
                return self._error(400, "BadRequest", str(exc))
            self._json({"commitUrl": f"{hub.endpoint}/{repo_id}/commit/{sha}", "commitOid": sha})

        def _ref(self, repo_id: str, kind: str, name: str) -> None:
            """create_tag: POST .../tag/<revision> {"tag": t}; create_branch: POST .../branch/<b>."""
            payload = json.loads(self._body() or b"{}")
            if kind == "tag":
                name, revision = payload["tag"], name
            else:
                revision = payload.get("startingPoint") or "main"
            repo, sha = self._repo_and_commit(repo_id, revision)
            if repo is None:
                return
            if name in repo.refs:
                return self._error(409, "Conflict", f"Reference {name} already exists")
            repo.refs[name] = sha
            self._json({})

        def _info(self, repo_id: str, revision: str) -> None:
            repo, sha = self._repo_and_commit(repo_id, revision)
            if repo is not None:
                siblings = [{"rfilename": path} for path in sorted(repo.commits[sha])]
                self._json({"id": repo_id, "sha": sha, "private": False, "siblings": siblings})

        def _tree(self, repo_id: str, revision: str, prefix: str, query: dict) -> None:
            repo, sha = self._repo_and_commit(repo_id, revision)
            if repo is None:
                return
            recursive = query.get("recursive", ["False"])[0].lower() == "true"
            base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
            entries, folders = [], set()
            for path, data in sorted(repo.commits[sha].items()):
                if not path.startswith(base):
                    continue
                tail = path[len(base) :]
                if "/" in tail and not recursive:
                    folders.add(base + tail.split("/")[0])
                    continue
                entries.append({"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)})
            entries += [{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(folders)]
            self._json(entries)

        def _resolve(self, repo_id: str, revision: str, path: str) -> None:
            repo, sha = self._repo_and_commit(repo_id, revision)
            if repo is None:
                return
            data = repo.commits[sha].get(path)
            if data is None:
                return self._error(404, "EntryNotFound", f"{path} not found", {"X-Repo-Commit": sha})
            etag = f'"{git_blob_sha1(data)}"'
            self._send(200, data, {"ETag": etag, "X-Repo-Commit": sha, "Content-Type": "application/octet-stream"})

    return Handler
