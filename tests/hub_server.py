"""A small Hugging Face Hub stand-in on 127.0.0.1, for offline tests of the publishing code.

The client side is the real, unpatched `huggingface_hub` and `datasets`; only the far end is ours.
It speaks the parts of the Hub protocol those libraries use to create repos and branches, commit
(preupload -> LFS batch -> PUT upload -> NDJSON commit), list trees, read repo info and download
files (resolve, with Range), which is what `HfApi` and `datasets.load_dataset` need.

Pointing the libraries at it:
  * subprocess: set `HF_ENDPOINT=<hub.url>` and `HF_HUB_DISABLE_XET=1` in its environment.
  * this process: both libraries copy HF_ENDPOINT into module globals at import time
    (`huggingface_hub.constants.ENDPOINT`, `datasets.config.HF_ENDPOINT` and URL templates built
    from them), so setting the env var later does nothing; call `configure_endpoint(hub.url,
    monkeypatch)` instead, which patches those globals (and undoes it with the monkeypatch).

Not modelled: Xet storage, multipart LFS uploads, tags, gating, the dataset viewer
(`datasets-server.<host>`), real git objects (oids are git-style hashes of the content only).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler

from .loopback import LoopbackServer

USER = "test-user"  # namespace for `create_repo("name")` without an organization
LFS_SUFFIXES = (".parquet", ".arrow")  # like the Hub's default .gitattributes, for data files
LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub also sends anything >= 10 MB through LFS
GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n"
)
READ_ONLY_POSTS = ("/paths-info/", "/validate-yaml")  # POSTs that change nothing
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_BATCH = ["info", "lfs", "objects", "batch"]


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
    )


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HubError(Exception):
    """An HTTP error answered the way the Hub does: JSON body, X-Error-Code / X-Error-Message."""

    def __init__(self, status, message, code=None, headers=None, extra=None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers, self.extra = headers or {}, extra or {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from the Hub

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _handle(self):
        self.server.hub._dispatch(self, self.command)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle


class HubServer(LoopbackServer):
    """Context manager: `with HubServer() as hub: ...`; state is inspectable while it runs.

    repos[repo_id] = {"type", "private", "created", "next_pr",
                      "branches": {name: [commit, ...] oldest first}}
    commit = {"id": 40-hex sha, "message", "description", "date", "files": {path: bytes},
              "lfs": set of paths stored through LFS}
    Branch lists are replaced, never mutated, so branches can share commits safely.
    """

    def __init__(self, tokens: tuple[str, ...] = ("hf_test",)):
        self.repos: dict = {}
        self.lfs: dict[str, bytes] = {}  # sha256 -> uploaded blob
        self.requests: list[tuple[str, str]] = []
        self.tokens: set[str] = set(tokens)
        self.errors: list[str] = []  # server-side exceptions (answered as 500)
        self._failures: list[list] = []
        self._lock = threading.RLock()
        self._counter = 0
        super().__init__(_Handler)
        self.httpd.hub = self

    # -- test-facing API --------------------------------------------------------------------------
    def writes(self) -> list[tuple[str, str]]:
        """Requests that create or modify something (for asserting that a dry run made none)."""
        return [(m, p) for m, p in self.requests if _is_write(m, p)]

    def fail_next(self, method, path_contains, status, times=1, headers=None, body=None):
        """Answer the next `times` matching requests with `status` (e.g. 412, or 429 with
        headers={"Retry-After": "0"}) instead of handling them."""
        failure = [method.upper(), path_contains, status, times, headers or {}, body]
        with self._lock:
            self._failures.append(failure)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        return dict(self._resolve(self.repos[repo_id], revision)[0]["files"])

    def commits(self, repo_id: str, revision: str = "main") -> list[dict]:
        """History of `revision`, newest first: {"sha", "message", "description", "date"}."""
        history = self._resolve(self.repos[repo_id], revision)[1]
        keys = ("message", "description", "date")
        return [{"sha": c["id"], **{k: c[k] for k in keys}} for c in reversed(history)]

    # -- plumbing ---------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = _read_body(h)  # always consume the body, or keep-alive breaks
        split = urllib.parse.urlsplit(h.path)
        segs = [urllib.parse.unquote(s) for s in split.path.strip("/").split("/")]
        path = "/" + "/".join(segs)
        query = dict(urllib.parse.parse_qsl(split.query))
        with self._lock:
            self.requests.append((method, path))
            forced = self._take_failure(method, path)
        if forced:
            status, headers, data = forced
            data = data or {"error": f"Scripted failure ({status})"}
            return _send(h, status, data, headers, method)
        try:
            with self._lock:
                token = self._check_auth(h, method, path)
                status, data, headers = self._route(method, segs, query, body, token, h)
        except HubError as e:
            headers = {"X-Error-Message": e.message, **e.headers}
            if e.code:
                headers["X-Error-Code"] = e.code
            status, data = e.status, {"error": e.message, **e.extra}
        except Exception as e:  # a bug here should fail the test loudly, not hang it
            self.errors.append(f"{method} {path}: {e!r}")
            status, data, headers = 500, {"error": f"hub_server bug: {e!r}"}, {}
        _send(h, status, data, headers, method)

    def _take_failure(self, method, path):
        for f in self._failures:
            if f[0] == method and f[1] in path and f[3] > 0:
                f[3] -= 1
                return f[2], f[4], f[5]
        return None

    def _check_auth(self, h, method, path) -> str | None:
        auth = h.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if path.startswith("/lfs-upload/"):  # stands for a pre-signed storage URL: no auth
            return token
        if (token is not None and token not in self.tokens) or (
            token is None and _is_write(method, path)
        ):
            raise HubError(401, "Invalid credentials in Authorization header")
        return token

    def _repo(self, repo_id: str, repo_type: str, token: str | None) -> dict:
        repo = self.repos.get(repo_id)
        if repo is None or repo["type"] != repo_type or (repo["private"] and token is None):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _resolve(self, repo: dict, rev: str) -> tuple[dict, list[dict]]:
        """(commit, history up to it) for a branch name or a commit sha."""
        if rev in repo["branches"]:
            history = repo["branches"][rev]
            return history[-1], history
        for history in repo["branches"].values():
            for i, c in enumerate(history):
                if len(rev) >= 7 and c["id"].startswith(rev):
                    return c, history[: i + 1]
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def _new_commit(self, base: dict | None, message: str, description: str, files, lfs) -> dict:
        self._counter += 1  # shas only need to be unique and 40 hex digits
        sha = hashlib.sha1(f"{base and base['id']}|{self._counter}|{time.time_ns()}".encode())
        c = dict(message=message, description=description, date=now(), files=files, lfs=lfs)
        return {"id": sha.hexdigest(), **c}

    # -- routing ----------------------------------------------------------------------------------
    def _route(self, method, segs, query, body, token, h):
        if segs[0] == "api":
            return self._api(method, segs[1:], query, body, token)
        if segs[0] == "lfs-upload" and method == "PUT":
            oid = segs[1]
            if hashlib.sha256(body).hexdigest() != oid:
                raise HubError(400, "Uploaded content does not match the oid")
            self.lfs[oid] = body
            return 200, b"", {"ETag": f'"{oid}"'}
        repo_type = segs[0][:-1] if segs[0] in ("datasets", "spaces") else "model"
        rest = segs[1:] if repo_type != "model" else segs
        if len(rest) == 6 and rest[1].endswith(".git") and rest[2:] == LFS_BATCH:
            self._repo(f"{rest[0]}/{rest[1][:-4]}", repo_type, token)
            return self._lfs_batch(json.loads(body or b"{}"))
        if len(rest) >= 4 and rest[2] == "resolve" and method in ("GET", "HEAD"):
            repo = self._repo(f"{rest[0]}/{rest[1]}", repo_type, token)
            return self._download(repo, rest[3], "/".join(rest[4:]), h)
        raise HubError(404, "Not found")

    def _api(self, method, segs, query, body, token):
        if segs[:2] == ["repos", "create"] and method == "POST":
            return self._create_repo(json.loads(body or b"{}"))
        if segs == ["validate-yaml"]:
            return 200, {"errors": [], "warnings": []}, {}
        if segs == ["whoami-v2"] and token:
            return 200, {"type": "user", "name": USER, "orgs": []}, {}
        if len(segs) < 3 or segs[0] not in ("models", "datasets", "spaces"):
            raise HubError(404, "Not found")
        repo_type, repo_id = segs[0][:-1], f"{segs[1]}/{segs[2]}"
        repo = self._repo(repo_id, repo_type, token)
        action, args = (segs[3] if len(segs) > 3 else ""), segs[4:]
        rev = args[0] if args else "main"
        if action in ("", "revision") and method == "GET":
            return 200, self._info(repo_id, repo, rev, query), {}
        if action == "tree" and method == "GET":
            return 200, self._tree(repo, rev, "/".join(args[1:]), query), {}
        if action == "paths-info" and method == "POST":
            form = urllib.parse.parse_qs(body.decode())
            expand = form.get("expand", ["False"])[0].lower() in ("true", "1")
            commit, history = self._resolve(repo, rev)
            out = [
                self._entry(commit, history, p.strip("/"), expand) for p in form.get("paths", [])
            ]
            return 200, [e for e in out if e is not None], {}
        if action == "commits" and method == "GET":
            history = self._resolve(repo, rev)[1]
            return 200, [_commit_json(c) for c in reversed(history)], {}
        if action == "refs" and method == "GET":
            return 200, self._refs(repo, query), {}
        if action == "branch" and args and method in ("POST", "DELETE"):
            return self._branch(repo, method, args[0], json.loads(body or b"{}"))
        if action == "preupload" and method == "POST":
            return 200, self._preupload(repo, rev, json.loads(body)), {}
        if action == "commit" and method == "POST":
            return 200, self._commit(repo_type, repo_id, repo, rev, query, body), {}
        raise HubError(404, "Not found")

    # -- endpoints --------------------------------------------------------------------------------
    def _create_repo(self, p: dict):
        repo_type = p.get("type") or "model"
        repo_id = f"{p.get('organization') or USER}/{p['name']}"
        url = f"{self.url}/{PREFIX.get(repo_type, '')}{repo_id}"
        if repo_id in self.repos:  # the client reads "url" even from this 409
            raise HubError(409, f"You already created this {repo_type} repo", extra={"url": url})
        private = p.get("visibility") == "private" or bool(p.get("private"))
        # Like the Hub, a new repo has one commit with a .gitattributes file.
        first = self._new_commit(
            None, "initial commit", "", {".gitattributes": GITATTRIBUTES}, set()
        )
        self.repos[repo_id] = dict(type=repo_type, private=private, created=now(), next_pr=1)
        self.repos[repo_id]["branches"] = {"main": [first]}
        return 200, {"url": url, "name": repo_id, "id": repo_id}, {}

    def _info(self, repo_id, repo, rev, query):
        commit = self._resolve(repo, rev)[0]
        blobs = query.get("blobs", "").lower() in ("true", "1")
        siblings = []
        for path, data in sorted(commit["files"].items()):
            s = {"rfilename": path}
            if blobs:
                blob_id, lfs = _blob(data, path in commit["lfs"])
                s.update(size=len(data), blobId=blob_id, **({"lfs": lfs} if lfs else {}))
            siblings.append(s)
        info = dict(id=repo_id, author=repo_id.split("/")[0], sha=commit["id"], gated=False)
        info.update(private=repo["private"], disabled=False, downloads=0, likes=0, tags=[])
        return dict(info, createdAt=repo["created"], lastModified=commit["date"], siblings=siblings)

    def _entry(self, commit, history, path, expand) -> dict | None:
        """A tree / paths-info entry for a file or directory, None if the path does not exist."""
        files = commit["files"]
        if path in files:
            oid, lfs = _blob(files[path], path in commit["lfs"])
            e = {"type": "file", "oid": oid, "size": len(files[path]), "path": path}
            if lfs:
                e["lfs"] = lfs
        elif any(p.startswith(path + "/") for p in files) or path == "":
            oid = hashlib.sha1(f"{commit['id']}:{path}".encode()).hexdigest()
            e = {"type": "directory", "oid": oid, "size": 0, "path": path}
        else:
            return None
        if expand:
            c = _last_commit(history, path)
            e["lastCommit"] = {"id": c["id"], "title": c["message"], "date": c["date"]}
        return e

    def _tree(self, repo, rev, path, query):
        commit, history = self._resolve(repo, rev)
        path = path.strip("/")
        top = self._entry(commit, history, path, False)
        if top is None or top["type"] != "directory":
            raise HubError(404, f"Path {path!r} not found or not a directory", "EntryNotFound")
        recursive = query.get("recursive", "").lower() in ("true", "1")
        expand = query.get("expand", "").lower() in ("true", "1")
        prefix = path + "/" if path else ""
        children = set()
        for p in commit["files"]:
            if not p.startswith(prefix):
                continue
            parts = p[len(prefix) :].split("/")
            depth = len(parts) if recursive else 1
            children.update(prefix + "/".join(parts[: i + 1]) for i in range(depth))
        entries = [self._entry(commit, history, p, expand) for p in sorted(children)]
        return sorted(entries, key=lambda e: (e["type"] != "directory", e["path"]))

    def _refs(self, repo, query):
        refs = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
        for name, history in repo["branches"].items():
            pr = name.startswith("refs/pr/")
            ref = name if pr else f"refs/heads/{name}"
            item = {"name": name, "ref": ref, "targetCommit": history[-1]["id"]}
            refs["pullRequests" if pr else "branches"].append(item)
        if not query.get("include_prs"):
            del refs["pullRequests"]
        return refs

    def _branch(self, repo, method, name, payload):
        if method == "DELETE":
            if repo["branches"].pop(name, None) is None:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            return 200, {}, {}
        if name in repo["branches"]:
            raise HubError(409, "Reference already exists")
        history = self._resolve(repo, payload.get("startingPoint") or "main")[1]
        repo["branches"][name] = list(history)
        return 200, {}, {}

    def _preupload(self, repo, rev, payload):
        commit = self._resolve(repo, rev)[0]
        out = []
        for f in payload.get("files", []):
            path = f["path"]
            lfs = path.endswith(LFS_SUFFIXES) or f.get("size", 0) >= LFS_MIN_SIZE
            mode = "lfs" if lfs else "regular"
            oid, data = None, commit["files"].get(path)
            # The client skips files whose remote oid equals its local one (sha256 for LFS,
            # git blob sha1 for regular files).
            if data is not None and (path in commit["lfs"]) == (mode == "lfs"):
                oid = hashlib.sha256(data).hexdigest() if mode == "lfs" else git_oid(data)
            out.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return {"files": out, "commitOid": commit["id"]}

    def _lfs_batch(self, payload):
        objects = []
        for o in payload.get("objects", []):
            obj = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in self.lfs:  # no "actions": the client knows the blob is already there
                href = f"{self.url}/lfs-upload/{o['oid']}"
                obj["actions"] = {"upload": {"href": href, "expires_in": 3600}}
            objects.append(obj)
        body = {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}
        return 200, body, {"Content-Type": "application/vnd.git-lfs+json"}

    def _commit(self, repo_type, repo_id, repo, rev, query, body):
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next((x["value"] for x in lines if x["key"] == "header"), None)
        if header is None or not header.get("summary"):
            raise HubError(400, "Missing commit header or summary")
        if rev not in repo["branches"]:  # commits go to branches (or PR refs), not to shas
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        parent = header.get("parentCommit")
        base, history = self._resolve(repo, rev)
        create_pr = query.get("create_pr") == "1"
        if create_pr and parent:
            base, history = self._resolve(repo, parent)  # a PR may start from an older commit
        elif parent and not base["id"].startswith(parent):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files, lfs = dict(base["files"]), set(base["lfs"])
        for item in lines:
            key, v = item["key"], item["value"]
            if key == "file":
                b64 = v.get("encoding") == "base64"
                files[v["path"]] = base64.b64decode(v["content"]) if b64 else v["content"].encode()
                lfs.discard(v["path"])
            elif key == "lfsFile":
                if v["oid"] not in self.lfs:
                    raise HubError(400, f"LFS object for {v['path']} was never uploaded")
                files[v["path"]] = self.lfs[v["oid"]]
                lfs.add(v["path"])
            elif key == "deletedFile":
                if files.pop(v["path"], None) is None:  # the client looks for this wording
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                lfs.discard(v["path"])
            elif key == "deletedFolder":
                prefix = v["path"].rstrip("/") + "/"
                gone = [p for p in files if p.startswith(prefix)]
                if not gone:
                    raise HubError(404, "A folder with this name doesn't exist", "EntryNotFound")
                for p in gone:
                    del files[p]
                    lfs.discard(p)
            elif key != "header":
                raise HubError(400, f"Unknown commit operation {key!r}")
        commit = self._new_commit(
            base, header["summary"], header.get("description", ""), files, lfs
        )
        url = f"{self.url}/{PREFIX.get(repo_type, '')}{repo_id}"
        out = {
            "success": True,
            "commitOid": commit["id"],
            "commitUrl": f"{url}/commit/{commit['id']}",
        }
        out.update(hookOutput="", pullRequestUrl=None)
        if create_pr:
            num = repo["next_pr"]
            repo["next_pr"] += 1
            rev = f"refs/pr/{num}"
            out["pullRequestUrl"] = f"{url}/discussions/{num}"
        repo["branches"][rev] = [*history, commit]
        return out

    def _download(self, repo, rev, path, h):
        commit = self._resolve(repo, rev)[0]
        if path not in commit["files"]:  # the client caches the miss under X-Repo-Commit
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit["id"]})
        data, lfs = commit["files"][path], path in commit["lfs"]
        etag = hashlib.sha256(data).hexdigest() if lfs else git_oid(data)
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": commit["id"], "Accept-Ranges": "bytes"}
        headers["Content-Type"] = "application/octet-stream"
        if lfs:  # the real Hub redirects LFS files to a CDN and describes them in these headers
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        rng = h.headers.get("Range")
        if not rng or not rng.startswith("bytes="):
            return 200, data, headers
        start_s, _, end_s = rng[6:].split(",")[0].strip().partition("-")
        size = len(data)
        if start_s == "":  # suffix range: the last N bytes
            start, end = max(size - int(end_s), 0), size - 1
        else:
            start, end = int(start_s), min(int(end_s) if end_s else size - 1, size - 1)
        if start >= size or start > end:
            raise HubError(
                416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"}
            )
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return 206, data[start : end + 1], headers


def _is_write(method: str, path: str) -> bool:
    return method in ("POST", "PUT", "DELETE") and not any(s in path for s in READ_ONLY_POSTS)


def _last_commit(history: list[dict], path: str) -> dict:
    """Newest commit in `history` that changed `path` (a file, or anything under a directory)."""

    def snap(c):
        under = [p for p in c["files"] if not path or p == path or p.startswith(path + "/")]
        return {p: c["files"][p] for p in under}

    for i in range(len(history) - 1, 0, -1):
        if snap(history[i]) != snap(history[i - 1]):
            return history[i]
    return history[0]


def _commit_json(c: dict) -> dict:
    message = c["message"] + (f"\n\n{c['description']}" if c["description"] else "")
    out = {"id": c["id"], "title": c["message"], "message": message, "date": c["date"]}
    return {**out, "authors": [{"user": USER}]}


def _blob(data: bytes, lfs: bool) -> tuple[str, dict | None]:
    """(git blob oid, LFS info) of a file: in git an LFS file is a small pointer blob.
    The LFS info is read as {oid, size, pointerSize} in trees and {sha256, ...} in siblings."""
    if not lfs:
        return git_oid(data), None
    pointer, sha = lfs_pointer(data), hashlib.sha256(data).hexdigest()
    return git_oid(pointer), {
        "oid": sha,
        "sha256": sha,
        "size": len(data),
        "pointerSize": len(pointer),
    }


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():  # streamed uploads
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


def _send(h: BaseHTTPRequestHandler, status: int, data, headers: dict, method: str) -> None:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    h.send_response(status)
    if not isinstance(data, bytes):
        h.send_header("Content-Type", "application/json")
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(raw)))  # for HEAD: the size GET would send
    h.end_headers()
    if method != "HEAD":
        h.wfile.write(raw)


def configure_endpoint(url: str, monkeypatch) -> None:
    """Point the already-imported `huggingface_hub` / `datasets` of this process at `url`.

    Both read HF_ENDPOINT (and HF_HUB_DISABLE_XET) once at import, into module globals; this sets
    those globals, through the test's `monkeypatch`, which undoes every change (env vars
    included) after the test.
    """
    import datasets.config as dconfig
    from huggingface_hub import constants

    mp = monkeypatch
    mp.setenv("HF_ENDPOINT", url)  # for subprocesses started from here
    mp.setenv("HF_HUB_DISABLE_XET", "1")
    mp.setattr(constants, "ENDPOINT", url)
    mp.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    mp.setattr(
        constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {urllib.parse.urlsplit(url).hostname}
    )
    mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
    mp.setattr(dconfig, "HF_ENDPOINT", url)
    mp.setattr(dconfig, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}")
    # The dataset viewer would be asked at datasets-server.<host>, which does not exist here.
    mp.setattr(dconfig, "USE_PARQUET_EXPORT", False)
