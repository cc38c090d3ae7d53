"""The affiliate product pool (精选联盟-style): products in the alliance's own fields, imported from files or synced
from a platform, stored in mcn's database and ranked by expected commission per post with the reasons shown.

Money is fen and commission ratios are 1/10,000 (x100 of the percentage) everywhere inside, as the platform gives
them; conversion to yuan and percent happens at the edge (display, remix material).
"""
