"""gladtui: a review station for AI-generated featured images.

Importing this package must stay cheap: it loads neither Textual nor torch
(tests/test_imports.py enforces it), so the CLI starts fast.
"""

__version__ = "0.1.0"
