"""Reusable test helpers: small generated corpora, contract suites and dummies."""
