"""Where a seal is told: Discord, GitHub, Slack, any webhook (and the release notes, kept in
the ledger).

Each sink builds its messages when a release ships or is sealed (they are queued in the
outbox with the change that caused them) and delivers one message when asked. A sink says
only "done", "try again after N s" or "never again"; the outbox owns retries.
"""
