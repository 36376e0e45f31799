"""Is a hub model available here? Answered from the local HF cache, and from the hub at most once.

A model id that is neither cached nor reachable must be refused before anything runs: the loaders
would otherwise spend a minute on retries and then fail every cell of the model.
"""

from __future__ import annotations

import os

from ..errors import ModelLoadError

HUB_TIMEOUT_S = 10.0


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def is_cached(repo_id: str, revision: str | None = None) -> bool:
    """True when the local HF cache holds the model's config (its weights are checked at load)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # an id that is not a valid repo name cannot be cached either
        return False
    return isinstance(found, str)


def check_available(repo_id: str, revision: str | None = None, near: str | None = None) -> None:
    """Raise ModelLoadError unless `repo_id` is cached, or the hub answers that it exists (one try)."""
    hint = f"did you mean '{near}'? " if near else ""
    if is_cached(repo_id, revision):
        return
    if offline():
        raise ModelLoadError(f"model '{repo_id}' is not in the local HF cache and HF_HUB_OFFLINE is set",
                             f"{hint}download it on a connected machine, or pass local:/path/to/model")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        HfApi().model_info(repo_id, revision=revision, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        raise ModelLoadError(f"model '{repo_id}' is gated on the hub",
                             "accept its licence and log in with `hf auth login`") from None
    except RevisionNotFoundError:
        raise ModelLoadError(f"model '{repo_id}' has no revision '{revision}' on the hub") from None
    except RepositoryNotFoundError:
        raise ModelLoadError(f"no model '{repo_id}' on the hub (nor in the local HF cache)",
                             f"{hint}check the id; local models are written local:/path") from None
    except Exception as exc:  # connection refused, DNS, timeout: the hub is not reachable from here
        raise ModelLoadError(f"model '{repo_id}' is not in the local HF cache and the hub is unreachable "
                             f"({type(exc).__name__})",
                             f"{hint}set HF_HUB_OFFLINE=1 and pass local:/path/to/model, or connect") from None
