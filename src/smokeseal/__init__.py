"""smokeseal: a read-only production smoke suite that seals every release green or red."""

__version__ = "0.1.0"
