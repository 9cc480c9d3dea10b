"""Document question answering with page-level citations.

Importing this package is cheap: models load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
