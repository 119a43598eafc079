"""Request limits shared by the models that enforce them and the HTTP schema that advertises them.

Kept free of model code, so the schema reads them without importing torch or numpy.
"""

from __future__ import annotations

MAX_HISTORY = 520  # periods of sales history one forecast request may send
MAX_KEYWORDS = 50  # keywords a runner returns per text; callers cut to their top_k
MAX_REPLIES = 10  # suggested replies one /reply call may ask for
