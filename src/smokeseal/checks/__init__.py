"""The three kinds of read-only probe: ``get`` (HTTP), ``page`` (browser), ``command``."""

from smokeseal.checks.base import READ_ONLY_METHODS, CheckResult, join_url

__all__ = ["READ_ONLY_METHODS", "CheckResult", "join_url"]
