"""Importing a library with some of its optional dependencies hidden. Plain Python, no Django."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Make `import name` fail (a None in sys.modules) for what is imported inside; a module already
    loaded stays as it is. After the block a deliberate import works again."""
    hid = [name for name in names if name not in sys.modules]
    for name in hid:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hid:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
