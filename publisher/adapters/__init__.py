"""Platform adapters behind one interface (:class:`publisher.adapters.base.PlatformAdapter`), one module each."""

from publisher.adapters.base import (
    AccountRestricted,
    Credentials,
    OutcomeUnknown,
    PlatformAdapter,
    PostPackage,
    PostRejected,
    PublishError,
    PublishReceipt,
    RateLimited,
    RemotePost,
    RetryableError,
    SessionExpired,
    adapter_names,
    create_adapter,
    register_adapter,
)

__all__ = [
    "AccountRestricted",
    "Credentials",
    "OutcomeUnknown",
    "PlatformAdapter",
    "PostPackage",
    "PostRejected",
    "PublishError",
    "PublishReceipt",
    "RateLimited",
    "RemotePost",
    "RetryableError",
    "SessionExpired",
    "adapter_names",
    "create_adapter",
    "register_adapter",
]
