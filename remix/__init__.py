"""Product-material remix (混剪): a 9:16 selling video made from a product's images, short videos and copy.

Core package (no Prefect): :mod:`remix.tts` (voice backends), :mod:`remix.voiceover` (timed voice track),
:mod:`remix.music` (shipped royalty-free loops), :mod:`remix.script` (selling lines), :mod:`remix.products`
(the product material file) and :mod:`remix.render` (the ffmpeg render). ``flows/make_remix.py`` orchestrates.
"""
