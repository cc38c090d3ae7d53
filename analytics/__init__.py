"""Metrics and affiliate orders joined to posts, the GMV dashboard and the product x hook bandit.

Not built yet: the feedback-loop issue fills this package. Nothing here pretends to work.
"""
