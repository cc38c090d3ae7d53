"""Posting plan, outbox dispatcher and platform adapters.

``publisher.plan`` assigns clips to account slots for a day, ``publisher.dispatch`` claims due posts and publishes
them exactly once, ``publisher.review`` is the approval gate, ``publisher.adapters`` holds one module per platform.
"""
