"""Kuaishou (快手) through its creator site, cp.kuaishou.com, in Playwright-driven Chromium.

NOT LIVE-TESTED: nothing here can reach cp.kuaishou.com. Same engine as Douyin
(:mod:`publisher.adapters.creator_site`), configured by ``selectors/kuaishou.v1.toml`` (``verified = false``: the
upload/publish flow follows social-auto-upload's Kuaishou uploader, the AI-declaration, product and manage-page
selectors are guesses a human must confirm with a real account before the first live run). Kuaishou has no title
field (the title opens the description), takes at most 3 topics here, and asks 确认发布 after 发布.

Kuaishou's open platform (start_upload -> upload -> publish, 48 h tokens) would be the official route for
accounts that are granted it; this adapter is the browser fallback.
"""

from __future__ import annotations

from typing import ClassVar

from publisher.adapters.base import register_adapter
from publisher.adapters.creator_site import CreatorSiteAdapter


@register_adapter("kuaishou")
class KuaishouAdapter(CreatorSiteAdapter):
    """Kuaishou creator site (browser). NOT live-tested: never run against cp.kuaishou.com (see module doc)."""

    name: ClassVar[str] = "kuaishou"
    live_tested: ClassVar[bool] = False
