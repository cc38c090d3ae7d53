"""Douyin (抖音) through its creator site, creator.douyin.com, in Playwright-driven Chromium.

NOT LIVE-TESTED: nothing here can reach creator.douyin.com. The engine (:mod:`publisher.adapters.creator_site`)
follows social-auto-upload's Douyin uploader and is tested in real Chromium against local fixture pages built from
``selectors/douyin.v1.toml`` (``verified = false``: a human must confirm the selectors with a real account before
the first live run). Douyin specifics live in that file: title cut to 30 characters, at most 5 topics, product
links through 添加标签 -> 购物车, the AI declaration 内容由AI生成, scheduled publish more than 2 h ahead in
``%Y-%m-%d %H:%M`` (UTC+8), success when the URL reaches ``content/manage``.

Douyin's Open Platform (``video.create``) is the official route, but server-side posting is limited to company
or signed accounts and excludes marketing content, so affiliate clips go through the creator site instead.
"""

from __future__ import annotations

from typing import ClassVar

from publisher.adapters.base import register_adapter
from publisher.adapters.creator_site import CreatorSiteAdapter


@register_adapter("douyin")
class DouyinAdapter(CreatorSiteAdapter):
    """Douyin creator site (browser). NOT live-tested: never run against creator.douyin.com (see module doc)."""

    name: ClassVar[str] = "douyin"
    live_tested: ClassVar[bool] = False
