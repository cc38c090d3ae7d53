"""Creator accounts registry: platform, handle, persona, caps, posting windows, encrypted sessions and tokens."""
