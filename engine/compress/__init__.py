"""Tiered compression of the local working copy: settings, tier decisions, encoders, checks, runs.

The NAS original is never written; every re-encode starts from a file that hashes to the
downloaded sha256, and a local copy is replaced only by an output that decoded back cleanly.
"""
