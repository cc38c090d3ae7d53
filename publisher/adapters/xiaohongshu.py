"""Xiaohongshu (小红书) through its creator site, creator.xiaohongshu.com, in Playwright-driven Chromium.

NOT LIVE-TESTED: nothing here can reach creator.xiaohongshu.com. Same engine as Douyin
(:mod:`publisher.adapters.creator_site`), configured by ``selectors/xiaohongshu.v1.toml`` (``verified = false``:
the upload/publish flow follows social-auto-upload's Xiaohongshu uploader, the AI-declaration and note-manager
selectors are guesses a human must confirm with a real account before the first live run). Titles are cut to 20
characters; success is the ``/publish/success`` page. Xiaohongshu attaches goods from the account's own shop by
search, not by a pasted link, so a post with a product link is refused (``product_link_unsupported``) rather than
published without it. Xiaohongshu has no general posting API: the browser is the only route.
"""

from __future__ import annotations

from typing import ClassVar

from publisher.adapters.base import register_adapter
from publisher.adapters.creator_site import CreatorSiteAdapter


@register_adapter("xiaohongshu")
class XiaohongshuAdapter(CreatorSiteAdapter):
    """Xiaohongshu creator site (browser). NOT live-tested: never run against the live site (see module doc)."""

    name: ClassVar[str] = "xiaohongshu"
    live_tested: ClassVar[bool] = False
