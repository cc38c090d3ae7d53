"""Host scripts for generated streams.

``DEV_*`` scripts are what the heuristic detector was developed against; ``HELDOUT_*`` scripts use different
products and wording and are only ever measured, never tuned on (see ``tests/test_quality.py``).
"""

from __future__ import annotations

from clipper.types import Product
from mcn.samples import ScriptLine as L
from mcn.samples import ScriptSegment, StreamScript

DEV_EN = StreamScript(
    language="en",
    intro=(
        L("Hello everyone, welcome to the live room!", "greeting"),
        L("Thanks for coming, give us a follow if you are new.", "chatter"),
    ),
    segments=(
        ScriptSegment(
            Product("p-jacket", "rain jacket", ("jacket", "shell"), 79.0, 0.2, "https://shop.example/p/jacket"),
            (
                L("First up is our rain jacket.", "transition"),
                L("This jacket is fully waterproof, so you stay dry even in heavy rain.", "selling"),
                L("The fabric is breathable, which means you will not sweat on a long hike.", "selling"),
                L("It folds into its own pocket and weighs only three hundred grams.", "selling"),
                L("The seams are taped and the zippers are sealed against water.", "selling"),
                L("Link three, only seventy nine dollars, tonight only!", "price"),
                L("Someone in the comments asked about sizes, we have small to extra large.", "reply"),
            ),
        ),
        ScriptSegment(
            Product("p-bottle", "steel bottle", ("bottle", "flask"), 25.0, 0.25, "https://shop.example/p/bottle"),
            (
                L("Next, let me show you the steel bottle.", "transition"),
                L("The double wall keeps your drinks cold for twenty four hours.", "selling"),
                L("It is made of food grade stainless steel, with no plastic taste at all.", "selling"),
                L("The lid is leak proof, so you can throw it in your bag without worry.", "selling"),
                L("It fits in every car cup holder and it is dishwasher safe.", "selling"),
                L("Grab it now, the price goes back up after the stream.", "price"),
            ),
        ),
    ),
    outro=(L("Thanks for watching, see you tomorrow night!", "greeting"),),
)
