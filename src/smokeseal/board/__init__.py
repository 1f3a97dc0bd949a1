"""The /deployments board and its JSON API, read straight from the ledger."""

from smokeseal.board.app import READ_TIMEOUT, create_app

__all__ = ["READ_TIMEOUT", "create_app"]
