"""Whether the Hub corpora of a build can be reached, asked once before any row is read.

`datasets.load_dataset` retries a Hub that does not answer for half a minute before it gives
up; a Hub that refuses the connection or whose name does not resolve will not answer the next
time either. One request per repo, without retries, settles it at once, and the one line then
says which languages still need a local file and which ones could be built without the Hub.
"""

from __future__ import annotations

from pathlib import Path

from plugdata.errors import SourceError
from plugdata.remote.locations import PROBE_TIMEOUT_S, _offline, local_reason
from plugdata.remote.retrying import connection_failure, is_transport_error
from plugdata.sources.corpus import Corpus


def _on_the_hub(corpus: Corpus) -> bool:
    """A `hub:` corpus that is a Hub repo (datasets also takes a local folder there)."""
    if corpus.hub is None:
        return False
    repo = corpus.hub.repo
    return local_reason(repo) is None and not Path(repo).exists()


def check_hub_reachable(corpora: dict[str, Corpus], pivot: str) -> None:
    """Fail now, in one line, when a corpus of `corpora` (language code -> corpus, the pivot's
    being the source) is on a Hub that cannot be reached. Offline mode is left to the cache."""
    hubbed = {code: corpus for code, corpus in corpora.items() if _on_the_hub(corpus)}
    if not hubbed or _offline("dataset"):
        return
    for repo in dict.fromkeys(corpus.hub.repo for corpus in hubbed.values()):
        cause = _unreachable(repo)
        if cause is None:
            continue
        from huggingface_hub import constants

        raise SourceError(
            f"hub dataset {repo}: cannot reach the Hub at {constants.ENDPOINT} ({cause}); "
            + _way_out(list(corpora), list(hubbed), pivot)
        )


def _way_out(codes: list[str], hubbed: list[str], pivot: str) -> str:
    """What to do without the Hub: the languages that need a local file, and those that could
    be built now."""
    named = [f"{code} (the source)" if code == pivot else code for code in hubbed]
    text = (
        f"languages read from the Hub: {', '.join(named)}; give each a local file with "
        "--corpus LANG=PATH, or set HF_HUB_OFFLINE=1 to use the cached copy"
    )
    local = [code for code in codes if code not in hubbed and code != pivot]
    if pivot not in hubbed and local:
        text += f"; or build the others now: {' '.join(f'--lang {code}' for code in local)}"
    return text


def _unreachable(repo: str) -> str | None:
    """Why nothing answered a request about `repo` (None: something answered, whatever it
    said: `datasets` reports a missing repo or a refusal itself)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    try:
        HfApi().repo_info(repo, repo_type="dataset", timeout=PROBE_TIMEOUT_S)
    except (HfHubHTTPError, HFValidationError, OfflineModeIsEnabled):
        return None  # an answer (or offline mode): datasets says what it means
    except Exception as exc:
        if not is_transport_error(exc):
            return None
        failure = connection_failure(exc)
        return failure.reason if failure else type(exc).__name__
    return None
