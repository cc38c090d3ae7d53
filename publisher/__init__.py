"""Posting plan, outbox and platform adapters (sandbox, outbox folder, douyin, kuaishou, ...).

Not built yet: the publishing issue fills this package. Nothing here pretends to work.
"""
