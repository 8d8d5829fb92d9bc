"""Publishing a dataset folder to the Hugging Face Hub, incrementally and verified.

The plan compares the local manifest with the one already in the repo: configs are added,
replaced (only with `--replace`), left unchanged, or kept as they are (other languages). The
README card and the manifest are regenerated from the merged manifest, so publishing `ko` later
keeps every `zh` config, file and card section. Everything goes up in one commit through
huggingface_hub, tied to the head it was planned against; a concurrent commit (412) or a
transient 429/5xx re-plans and retries. Afterwards every pushed config is loaded back with
`datasets.load_dataset` and compared with the local folder.

`PublishOptions` is what a publish is asked to do; the flags of `plugdata publish` are derived
from it (`plugdata.core.options`), and `plugdata build --push` fills it from a recipe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from plugdata.core.jsonl import json_text
from plugdata.core.redact import scrub, scrub_obj
from plugdata.dataset import folder
from plugdata.dataset.cards import render_card
from plugdata.dataset.manifest import ConfigEntry, Manifest
from plugdata.dataset.shards import table_hash
from plugdata.errors import PlugdataError
from plugdata.remote.calls import GaveUp, Retrying
from plugdata.remote.retrying import (
    RETRYABLE_STATUS,
    ROW,
    SETUP,
    TRANSIENT,
    Failure,
    connection_failure,
    host_of,
    is_transport_error,
    parse_retry_after,
)

CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN to a token with write access"


class PublishError(PlugdataError):
    """The Hub refused, or the published data does not match the local folder."""


class PublishTarget(BaseModel):
    """Where a folder is published: the repo and how it is committed to (a recipe's `publish:`
    section, which `plugdata build --push` uses)."""

    model_config = ConfigDict(extra="forbid")

    repo_id: str = Field(description="Hub dataset repo.", json_schema_extra={"metavar": "ORG/NAME"})
    private: bool = Field(False, description="Create the repo as private.")
    revision: str = Field("main", description="Branch to commit to.")
    create_pr: bool = Field(False, description="Open a pull request instead of committing.")
    replace: bool = Field(False, description="Allow replacing configs that changed.")


class PublishOptions(PublishTarget):
    """What to publish, and where: the argument and flags of `plugdata publish`."""

    folder: Path = Field(
        description="The built dataset folder.",
        json_schema_extra={
            "argument": True,
            "path": "dir",
            "exists": True,
            "io": "read",
            "role": "the folder",
        },
    )
    langs: list[str] = Field(
        default_factory=list,
        description="Publish every config of these languages (repeatable).",
        json_schema_extra={"flag": "--lang", "metavar": "CODE"},
    )
    configs: list[str] = Field(
        default_factory=list,
        description="Publish these exact configs (repeatable). Neither option: all.",
        json_schema_extra={"flag": "--config", "metavar": "NAME"},
    )
    dry_run: bool = Field(False, description="Print the plan; make no request that writes.")
    verify: bool = Field(
        True,
        description="Load the pushed configs back afterwards and compare them with FOLDER.",
    )


@dataclass(frozen=True)
class ConfigCheck:
    """One split of a pushed config, loaded back from the Hub and compared with the folder. A
    config that did not load at all is one check, of split `-`, with the reason in `error`."""

    config: str
    split: str
    local: int  # rows built
    hub: int  # rows loaded back
    ok: bool  # as many rows, with the same content hash
    error: str | None = None

    HEADER: ClassVar[str] = f"{'config':<24}{'split':<12}{'local':>8}{'hub':>8}  content"

    def line(self) -> str:
        """The check as a row under `HEADER`."""
        verdict = "same" if self.ok else f"DIFFERENT {self.error or ''}".strip()
        return f"{self.config:<24}{self.split:<12}{self.local:>8}{self.hub:>8}  {verdict}"

    def problem(self) -> str:
        return self.error or f"{self.hub} rows or different content, {self.local} built"


@dataclass
class PublishPlan:
    repo_id: str
    revision: str
    repo_exists: bool
    branch_exists: bool
    head: str | None  # commit the plan was made against
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # already published, not selected
    blocked: list[str] = field(default_factory=list)  # changed, but no --replace
    uploads: dict[str, Path | bytes] = field(default_factory=dict)  # path in repo -> content
    deletes: list[str] = field(default_factory=list)
    manifest: Manifest = field(default_factory=Manifest)

    @property
    def upload_bytes(self) -> int:
        return sum(
            c.stat().st_size if isinstance(c, Path) else len(c) for c in self.uploads.values()
        )

    @property
    def changes(self) -> bool:
        return bool(self.uploads or self.deletes)

    def summary(self) -> str:
        where = f"{self.repo_id}@{self.revision}" + ("" if self.repo_exists else " (new repo)")

        def names(items: list[str]) -> str:
            return ", ".join(items) if items else "-"

        lines = [
            f"repo      {where}",
            f"add       {names(self.added)}",
            f"replace   {names(self.replaced)}",
            f"unchanged {names(self.unchanged)}",
            f"kept      {names(self.kept)}",
        ]
        if self.blocked:
            lines.append(f"changed   {names(self.blocked)}  (needs --replace)")
        lines.append(
            f"files     {len(self.uploads)} to upload ({self.upload_bytes:,} bytes), "
            f"{len(self.deletes)} to delete"
        )
        for path in sorted(self.uploads):
            lines.append(f"  + {path}")
        for path in sorted(self.deletes):
            lines.append(f"  - {path}")
        return "\n".join(lines)


@dataclass
class PublishReport:
    plan: PublishPlan
    commit: str | None = None  # None: nothing to publish
    pr_url: str | None = None
    attempts: int = 0
    checks: list[ConfigCheck] = field(default_factory=list)
    dry_run: bool = False  # the plan only: what a real run would do
    create_pr: bool = False

    def raise_if_failed(self) -> None:
        """One line for a commit whose configs did not load back as they were built."""
        bad = [c for c in self.checks if not c.ok]
        if bad:
            c = bad[0]
            raise PublishError(
                f"verification failed: commit {(self.commit or '')[:12]} of {self.plan.repo_id}: "
                f"config {c.config} ({c.split}): {c.problem()}"
                + (f"; {len(bad) - 1} more checks failed" if len(bad) > 1 else "")
            )

    def summary(self) -> str:
        lines = [self.plan.summary(), ""]
        plan = self.plan
        if self.dry_run and plan.changes:
            lines.append(
                f"dry run, nothing sent: a real run would commit {len(plan.uploads)} files "
                f"({plan.upload_bytes:,} bytes) and delete {len(plan.deletes)} to "
                f"{plan.repo_id}@{plan.revision}"
                + (" as a pull request" if self.create_pr else "")
                + ("" if plan.repo_exists else ", creating the repo")
            )
        elif self.dry_run:
            lines.append("dry run, nothing sent: a real run would make no commit (no change)")
        elif self.commit is None:
            lines.append("nothing changed: no commit made")
        else:
            lines.append(
                f"committed {self.commit[:12]} after {self.attempts} attempt(s)"
                + (f"; pull request {self.pr_url}" if self.pr_url else "")
            )
        if self.checks:
            lines += ["", ConfigCheck.HEADER, *(c.line() for c in self.checks)]
        return "\n".join(lines)


# -- selection and validation --------------------------------------------------------------------
def validate_names(repo_id: str, configs: list[str]) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    hint = f"--repo-id {repo_id!r}: use ORG/NAME with letters, digits, '-', '_', '.'"
    if not REPO_ID.match(repo_id) or ".." in repo_id:
        raise PublishError(hint)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PublishError(f"{hint} ({_first_line(exc)})") from None
    for name in configs:
        if not CONFIG_NAME.match(name) or ".." in name:
            raise PublishError(
                f"config {name!r}: not a valid Hub config name "
                "(letters, digits, '-', '_', '.'; no '/' or '..')"
            )


def select(manifest: Manifest, langs: list[str], configs: list[str]) -> list[str]:
    """`--lang` picks every config of those languages, `--config` exact names, neither: all."""
    available = list(manifest.configs)
    if not langs and not configs:
        return available
    unknown = [c for c in configs if c not in available]
    if unknown:
        raise PublishError(
            f"--config {unknown[0]}: not in the folder; configs: {', '.join(available)}"
        )
    chosen = [c for c in available if manifest.configs[c].language in langs or c in configs]
    missing = [lang for lang in langs if not manifest.configs_of(lang)]
    if missing:
        raise PublishError(f"--lang {missing[0]}: no config of that language in the folder")
    return chosen


# -- planning ------------------------------------------------------------------------------------
def _remote_state(api, repo_id: str, revision: str) -> tuple[bool, bool, str | None, dict]:
    """(repo exists, branch exists, head sha, {path: sha256 or git oid})."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = api.repo_info(repo_id, repo_type="dataset", revision=revision, files_metadata=True)
    except RepositoryNotFoundError:
        return False, False, None, {}
    except RevisionNotFoundError:
        return True, False, None, {}
    hashes = {}
    for sibling in info.siblings or []:
        lfs = getattr(sibling, "lfs", None)
        hashes[sibling.rfilename] = lfs.sha256 if lfs else getattr(sibling, "blob_id", None)
    return True, True, info.sha, hashes


def _remote_manifest(api, repo_id: str, revision: str, present: dict) -> Manifest:
    if folder.MANIFEST not in present:
        return Manifest()
    path = api.hf_hub_download(repo_id, folder.MANIFEST, repo_type="dataset", revision=revision)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    try:
        return folder.parse_manifest(
            data, f"{repo_id}@{revision}: its {folder.MANIFEST} is not a plugdata manifest"
        )
    except folder.FolderError as err:
        raise PublishError(f"{err}; publish to another repo or branch") from None


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _same(remote_hash: str | None, content: bytes) -> bool:
    return remote_hash in (hashlib.sha256(content).hexdigest(), _git_blob_id(content))


def check_local(local: Path, manifest: Manifest, chosen: list[str]) -> None:
    """Before any request: every file to push lies inside the folder with the bytes the manifest
    vouches for, and each chosen config loads with `datasets` with the manifest's row counts."""
    try:
        folder.check_folder(local, manifest, chosen)
    except folder.FolderError as err:
        raise PublishError(f"{err}; nothing was published") from None
    import datasets

    with tempfile.TemporaryDirectory(prefix="plugdata-check-") as cache, _quiet_datasets():
        for name in chosen:
            try:
                loaded = datasets.load_dataset(str(local), name, cache_dir=cache)
            except Exception as exc:  # datasets raises many types for a broken folder
                raise PublishError(
                    f"{local}: config {name} does not load with datasets ({_first_line(exc)}); "
                    "nothing was published"
                ) from None
            expected = manifest.configs[name].splits
            got = {split: ds.num_rows for split, ds in loaded.items()}
            if got != expected:
                raise PublishError(
                    f"{local}: config {name} loads as {got}, {folder.MANIFEST} says {expected}; "
                    "nothing was published"
                )


def plan(options: PublishOptions, *, api=None, check: bool = True) -> PublishPlan:
    """What publishing `options` changes in the repo, against its current head. `check`: check
    the local folder first (a re-plan after a conflict skips it; the upload checks every hash
    all the same)."""
    local, repo_id, revision = options.folder, options.repo_id, options.revision
    local_manifest = folder.read_manifest(local)
    if not local_manifest.configs:
        raise PublishError(
            f"{local}: no manifest.json with configs; build it first (plugdata build RECIPE)"
        )
    chosen = select(local_manifest, options.langs, options.configs)
    validate_names(repo_id, chosen)
    if check:
        check_local(local, local_manifest, chosen)
    api = api or _api()
    exists, branch, head, remote_files = _call(lambda: _remote_state(api, repo_id, revision))
    remote = _call(lambda: _remote_manifest(api, repo_id, revision, remote_files))
    result = PublishPlan(repo_id, revision, exists, branch, head)
    merged = local_manifest.model_copy(
        update={
            "configs": dict(remote.configs),
            "quarantine": dict(remote.quarantine),
            "language_names": {**remote.language_names, **local_manifest.language_names},
        }
    )
    for name in chosen:
        info = local_manifest.configs[name]
        if _sort_config(result, name, info, remote.configs.get(name), options.replace):
            merged.configs[name] = info
            _add_config_files(result, name, info, local, remote_files)
    result.kept = [c for c in remote.configs if c not in chosen]
    # The repo's default config stays where it is; a new repo takes the folder's when it is
    # published, else the first `plug` config (`Manifest.choose_default`).
    merged.default_config = merged.choose_default(
        remote.default_config, local_manifest.default_config
    )
    for lang in sorted({local_manifest.configs[c].language for c in chosen}):
        entry = merged.quarantine[lang] = local_manifest.quarantine[lang]
        if remote_files.get(entry.file) != entry.sha256:
            result.uploads[entry.file] = local / entry.file
    # A manifest edited by hand, here or in the repo, may quote a credential: none is pushed.
    result.manifest = Manifest.model_validate(scrub_obj(merged.to_json()))
    manifest_bytes = json_text(result.manifest.to_json()).encode()
    card_bytes = render_card(result.manifest, repo_id).encode()
    for rel, content in ((folder.MANIFEST, manifest_bytes), (folder.CARD, card_bytes)):
        if not _same(remote_files.get(rel), content):
            result.uploads[rel] = content
    return result


def _sort_config(
    result: PublishPlan, name: str, info: ConfigEntry, before: ConfigEntry | None, replace: bool
) -> bool:
    """File a chosen config under added, unchanged, replaced or blocked; whether it is pushed."""
    if before is None:
        result.added.append(name)
    elif before.sha256 == info.sha256 and set(before.files) == set(info.files):
        result.unchanged.append(name)
    elif replace:
        result.replaced.append(name)
    else:
        result.blocked.append(name)
        return False
    return True


def _add_config_files(
    result: PublishPlan, name: str, info: ConfigEntry, local: Path, remote_files: dict
) -> None:
    """Upload the config's files the repo does not hold as they are; a replaced config's
    files that the new one does not list are deleted."""
    for rel, sha in info.files.items():
        if remote_files.get(rel) != sha:
            result.uploads[rel] = local / rel
    if name in result.replaced:
        result.deletes += [
            p
            for p in remote_files
            if p.startswith(f"{folder.data_dir(name)}/") and p not in info.files
        ]


# -- publishing ----------------------------------------------------------------------------------
def publish(options: PublishOptions) -> PublishReport:
    """Plan, commit (one commit, tied to the planned head), then load back and compare."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api = _api()
    repo_id = options.repo_id
    attempts = 0

    def attempt() -> tuple[PublishReport, Any]:  # the report, and the commit made if any
        nonlocal attempts
        attempts += 1
        current = plan(options, api=api, check=attempts == 1)
        report = PublishReport(
            current, attempts=attempts, dry_run=options.dry_run, create_pr=options.create_pr
        )
        if current.blocked:
            raise PublishError(
                f"{repo_id}: {', '.join(current.blocked)} changed since they were published; "
                "pass --replace to overwrite them (--dry-run shows what would change)"
            )
        if options.dry_run or not current.changes:
            return report, None
        operations = _additions(current, CommitOperationAdd)
        operations += [CommitOperationDelete(path_in_repo=p) for p in sorted(current.deletes)]
        _call(functools.partial(_ensure_repo, api, current, options.private))
        commit = _call(
            functools.partial(
                api.create_commit,
                repo_id,
                operations,
                repo_type="dataset",
                revision=options.revision,
                commit_message=_message(current),
                create_pr=options.create_pr,
                parent_commit=current.head,
            )
        )
        report.commit = commit.oid
        report.pr_url = getattr(commit, "pr_url", None)
        return report, commit

    # A concurrent commit (412) re-plans against the new head, with the shared retries.
    conflicts = Retrying(f"{repo_id} on {_hub()}", _conflict_failure)
    try:
        report, commit = conflicts.call(attempt)
    except GaveUp:
        raise PublishError(
            f"{repo_id}: the repo kept changing under us ({attempts} attempts); try again later"
        ) from None
    if options.verify and commit is not None:
        pushed = report.plan.added + report.plan.replaced + report.plan.unchanged
        target = getattr(commit, "pr_revision", None) or commit.oid
        manifest = folder.read_manifest(options.folder)
        report.checks = verify_configs(repo_id, target, pushed, manifest)
    return report


@contextlib.contextmanager
def _quiet_datasets():
    """No progress bars from `datasets` while it loads what only plugdata looks at."""
    import datasets

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()


def _additions(p: PublishPlan, add) -> list:
    """One add operation per upload. huggingface_hub hashes each file once and uploads under
    that hash; it must be the manifest's, or a file changed after the check: commit nothing."""
    vouched = folder.owned_files(p.manifest)
    operations = []
    for path, content in sorted(p.uploads.items()):
        op = add(
            path_in_repo=path,
            path_or_fileobj=str(content) if isinstance(content, Path) else content,
        )
        if isinstance(content, Path) and op.upload_info.sha256.hex() != vouched.get(path):
            raise PublishError(
                f"{content}: changed since it was checked against {folder.MANIFEST}; "
                "nothing was published"
            )
        operations.append(op)
    return operations


def _message(p: PublishPlan) -> str:
    parts = []
    if p.added:
        parts.append(f"add {', '.join(p.added)}")
    if p.replaced:
        parts.append(f"replace {', '.join(p.replaced)}")
    return "plugdata: " + ("; ".join(parts) or "update card and manifest")


def _ensure_repo(api, p: PublishPlan, private: bool) -> None:
    if not p.repo_exists:
        api.create_repo(p.repo_id, repo_type="dataset", private=private, exist_ok=True)
    if not p.branch_exists and p.revision != "main":
        api.create_branch(p.repo_id, repo_type="dataset", branch=p.revision, exist_ok=True)


def verify_configs(
    repo_id: str, revision: str, configs: list[str], manifest: Manifest
) -> list[ConfigCheck]:
    """Load each config back from the Hub (fresh cache) and compare counts and content hash;
    a config that does not load is a failed check with the reason, not an exception."""
    import datasets

    checks = []
    with tempfile.TemporaryDirectory(prefix="plugdata-verify-") as cache:
        for name in configs:
            info = manifest.configs[name]
            try:
                loaded = _call(
                    lambda n=name: datasets.load_dataset(
                        repo_id, n, revision=revision, cache_dir=cache
                    )
                )
            except Exception as exc:  # whatever datasets raises, the check failed
                rows = sum(info.splits.values())
                checks.append(ConfigCheck(name, "-", rows, 0, False, _first_line(exc)))
                continue
            for split, rows in info.splits.items():
                got = loaded.get(split)
                hub_rows = got.num_rows if got is not None else 0
                same = got is not None and table_hash(got.data.table) == info.sha256.get(split)
                checks.append(ConfigCheck(name, split, rows, hub_rows, hub_rows == rows and same))
    return checks


# -- HTTP errors ---------------------------------------------------------------------------------
class _Conflict(Exception):
    """The branch moved between planning and committing (HTTP 412)."""


def _api():
    from huggingface_hub import HfApi

    return HfApi()


def _hub() -> str:
    """The Hub endpoint requests go to, for messages (never with credentials)."""
    from huggingface_hub import constants

    return f"the Hub at {host_of(constants.ENDPOINT, 'huggingface.co')}"


def _call(fn):
    """Run a Hub call with the shared retries (429/5xx and dropped connections; Retry-After
    first, capped), turn 412 into _Conflict, and everything else the user can fix into one line:
    auth (how to log in), offline mode, nothing listening, a host that does not resolve. Tokens
    never reach a message."""
    try:
        return Retrying(_hub(), _hub_failure).call(fn)
    except GaveUp as gave_up:
        raise PublishError(gave_up.failure.reason) from None


def _hub_failure(exc: Exception) -> Failure | None:
    """What a failed Hub call means, its reason worded as the line the user sees."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 412:
            raise _Conflict() from None
        if status in (401, 403):
            return Failure(f"{_hub()} refused the request (HTTP {status}): {LOGIN_HINT}", SETUP)
        reason = f"{_hub()} answered HTTP {status}: {_first_line(exc)}"
        if status not in RETRYABLE_STATUS:
            return Failure(reason, ROW)
        retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
        return Failure(reason, TRANSIENT, retry_after=retry_after)
    upload = _lfs_upload(exc)
    if upload is not None:  # an LFS upload failed: it is retried as the commit it is part of
        path, cause = upload
        failure = _hub_failure(cause)
        if failure is not None:
            return dataclasses.replace(failure, reason=f"uploading {path}: {failure.reason}")
    if isinstance(exc, OfflineModeIsEnabled):
        reason = "HF_HUB_OFFLINE is set: publishing needs the Hub; unset it to publish"
        return Failure(reason, SETUP, sent=False)
    unreachable = connection_failure(exc)
    if unreachable is not None:
        return Failure(f"cannot reach {_hub()}: {unreachable.reason}", SETUP, sent=False)
    if is_transport_error(exc):
        return Failure(f"{_hub()}: {type(exc).__name__}: {_first_line(exc)}", TRANSIENT)
    return None  # not the Hub's doing: a bug, with its traceback


def _lfs_upload(exc: Exception) -> tuple[str, BaseException] | None:
    """(path, the failure under it) for huggingface_hub's wrapper of a failed LFS upload
    (`RuntimeError: Error while uploading '<path>' to the Hub.`, raised from the HTTP error)."""
    found = re.fullmatch(r"Error while uploading '(.+)' to the Hub\.", str(exc))
    if not isinstance(exc, RuntimeError) or found is None or exc.__cause__ is None:
        return None
    return found[1], exc.__cause__


def _conflict_failure(exc: Exception) -> Failure | None:
    return Failure("the branch moved (HTTP 412)", TRANSIENT) if isinstance(exc, _Conflict) else None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return scrub(text)
