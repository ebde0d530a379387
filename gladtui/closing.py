"""`with thing:` for anything that has `close()`: one `__exit__` for all of them.

The daemon's store, the client's event stream and the ssh forward each close
when their `with` block ends. `Closing[T]` says what `with … as x` gives:
the object itself (`Closing["Store"]`, by contextlib's `__enter__`), or what
the subclass's own `__enter__` returns (`Closing[Path]`: the forwarded socket).
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T", covariant=True)


class Closing(AbstractContextManager[T, None], Generic[T]):
    @abstractmethod
    def close(self) -> None:
        """Release what it holds; the end of a `with` block calls it, exception or not."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
