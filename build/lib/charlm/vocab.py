"""The character vocabulary: ``.`` is token 0, then the sorted characters (Chapter 1).

A word list that itself contains ``.`` (``St. Louis``) needs another boundary token:
``Vocab.from_words(words, boundary="\n")``, a character no line can hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

BOUNDARY = "."  # the start-and-end token, always index 0


@dataclass(frozen=True)
class Vocab:
    """Maps characters to token ids and back (Chapter 1).

    >>> v = Vocab.from_words(["emma", "bob"])
    >>> v.itos
    ['.', 'a', 'b', 'e', 'm', 'o']
    >>> v.encode("mob")
    [4, 5, 2]
    >>> v.decode([4, 5, 2, 0])
    'mob.'
    """

    chars: str  # the characters of ids 1..len(chars), sorted, without the boundary token
    boundary: str = BOUNDARY  # the start-and-end token, id 0 (the book's is ".")
    itos: list[str] = field(init=False, repr=False, compare=False)
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.boundary) != 1:
            raise ValueError(f"the boundary token must be one character, got {self.boundary!r}")
        if self.boundary in self.chars:
            raise ValueError(f"{self.boundary!r} is the boundary token and cannot be a character")
        if list(self.chars) != sorted(set(self.chars)):
            raise ValueError("chars must be sorted and distinct")
        itos = [self.boundary, *self.chars]
        object.__setattr__(self, "itos", itos)
        object.__setattr__(self, "stoi", {ch: i for i, ch in enumerate(itos)})

    @classmethod
    def from_words(cls, words: Iterable[str], boundary: str = BOUNDARY) -> Vocab:
        """The vocabulary of every character that occurs in ``words`` (Chapter 1)."""
        chars = sorted(set("".join(words)))
        if boundary in chars:
            raise ValueError(
                f"the words contain {boundary!r}, which is reserved for the start/end token"
            )
        return cls("".join(chars), boundary)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; a character outside the vocabulary raises ValueError."""
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as exc:
            pos = next(i for i, ch in enumerate(text) if ch not in self.stoi)
            raise ValueError(
                f"character {text[pos]!r} at position {pos} of {text!r} is not in the "
                f"vocabulary ({''.join(self.itos)!r})"
            ) from exc

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of token ids ``ids``; an id out of range raises ValueError."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"token id {i} is outside the vocabulary (0..{len(self) - 1})")
            out.append(self.itos[i])
        return "".join(out)
