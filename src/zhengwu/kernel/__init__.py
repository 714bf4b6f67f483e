"""The shared kernel: configuration, database, errors, events, national codes, SM crypto, files, clock, logging.

It imports no capability; every capability may import it.
"""
