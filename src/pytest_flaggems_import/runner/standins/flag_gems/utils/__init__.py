"""``flag_gems.utils`` stand-in: ``libentry`` and ``libtuner`` without FlagGems' caching."""

import triton


def libentry():
    """FlagGems' libentry caches launch arguments; correctness does not depend on it."""

    def decorator(fn):
        return fn

    return decorator


def libtuner(configs, key, **kwargs):
    """Plain ``triton.autotune`` with the arguments the two have in common."""
    allowed = {k: v for k, v in kwargs.items() if k in ("prune_configs_by", "reset_to_zero", "restore_value")}
    return triton.autotune(configs=configs, key=key, **allowed)
