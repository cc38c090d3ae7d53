"""Clip factory: a livestream recording in, ranked 9:16 selling-point clips out.

Each step is its own module with a typed result (see :mod:`clipper.types`):

* :mod:`clipper.media` probes sources, :mod:`clipper.ffmpeg` builds ffmpeg argv lists.
* :mod:`clipper.transcribe` runs faster-whisper; :mod:`clipper.subtitles` reads SRT/VTT instead.
* :mod:`clipper.sentences` groups words into sentences.
* :mod:`clipper.scenes` finds scene cuts with PySceneDetect.
* :mod:`clipper.products` loads the product list; :mod:`clipper.segments` finds which product is on air.
* :mod:`clipper.detectors` finds selling points (heuristic, OpenAI-compatible, local transformers).
* :mod:`clipper.planner` turns selling points into clip ranges; :mod:`clipper.render` renders them.
* :mod:`clipper.manifest` writes ``clips.json``.

This package never imports Prefect: ``flows/`` orchestrates it.
"""
