"""Creator accounts registry (platform, handle, persona, caps, posting windows, encrypted sessions).

Not built yet: the accounts issue fills this package. Nothing here pretends to work.
"""
