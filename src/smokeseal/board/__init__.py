"""The /deployments board and its JSON API, read straight from the ledger."""

from smokeseal.board.app import create_app

__all__ = ["create_app"]
