"""The start of a builtin value's repr, rendered no further than a cut shows it.

``repr(b"..." * 50_000_000)`` takes seconds, and a log shows its first thousand characters. These
build the repr of str, bytes, bytearray, int, list, tuple, dict, set, frozenset, deque, defaultdict,
the dict views and the builtin exceptions — nested, and for the subclasses whose repr is the
builtin's — as the builtin repr does, item by item, and stop once they have `budget` characters.
What they give is the whole repr, or a prefix of it: ``(text, whole)``. A container met again inside
itself is ``[...]``, as ``Py_ReprEnter`` makes it. Anything else is repr'd whole: a class's own
``__repr__`` is its code.
"""

from __future__ import annotations

import sys
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any, Final

SMALL_INT: Final = 1 << 62
_LOG10_2: Final = 0.30102999566398  # a little under log10(2): a digit count never over-estimated


def repr_head(obj: Any, budget: int) -> tuple[str, bool]:
    """``(repr(obj), True)``, or ``(a prefix of repr(obj) at least budget long, False)``."""
    try:
        return _head(obj, budget, set())
    except RecursionError:  # deeper than this module's recursion goes (the builtins' is in C)
        return repr(obj), True


def str_head(obj: Any, budget: int) -> tuple[str, bool]:
    """`str(obj)` as `repr_head` gives repr: for a str, a builtin exception, a type shown by repr."""
    try:
        return _str_head(obj, budget)
    except RecursionError:
        return str(obj), True


def is_short(obj: Any, room: int) -> bool:
    """Whether repr(obj) is known, from the types and sizes of builtin values, to be at most `room`
    long (no code of the program runs: a subclass or a class is not known)."""
    return _short(obj, room, 0) >= 0


def renders(cls: type) -> bool:
    """Whether `repr_head` renders a `cls` itself (its repr is a builtin's), or calls its repr."""
    if cls in _HEADS:
        return True
    try:
        return getattr(cls, "__repr__", None) in _INHERITED
    except TypeError:  # an unhashable __repr__
        return False


# The longest repr of each: ``-2.2250738585072014e-308``; a complex is two of them and ``(+j)``.
_BOUNDS: Final[dict[type, int]] = {float: 24, bool: 5, type(None): 4, complex: 52}


def _short(obj: Any, room: int, depth: int) -> int:
    """No less than len(repr(obj)), if known to be at most `room` (see `is_short`); else -1."""
    cls = type(obj)
    if cls is str:
        size = len(obj) * (4 if obj.isascii() else 10) + 2  # as escaped: \\x00, \\U0001f600
    elif cls is list or cls is tuple or cls is set or cls is frozenset or cls is dict:
        if depth > 8 or len(obj) * 3 > room:
            return -1
        size = 13  # frozenset({...})
        if cls is not dict and len(obj) > 32:  # many items of one kind: sized at C speed
            kinds = set(map(type, obj))
            if len(kinds) == 1:
                kind = kinds.pop()
                if kind in _BOUNDS or (kind is int and min(obj) > -SMALL_INT and max(obj) < SMALL_INT):
                    size += len(obj) * (_BOUNDS.get(kind, 20) + 2)
                    return size if size <= room else -1
        for item in chain.from_iterable(dict.items(obj)) if cls is dict else obj:  # "k: v": as "k, v"
            kind = type(item)
            if kind is int:
                if not -SMALL_INT < item < SMALL_INT:
                    return -1
                size += 22
            elif kind is str:
                size += len(item) * (4 if item.isascii() else 10) + 4
            else:
                inner = _BOUNDS.get(kind)
                if inner is None:
                    inner = _short(item, room - size, depth + 1)
                    if inner < 0:
                        return -1
                size += inner + 2
            if size > room:
                return -1
        return size
    elif cls is int:
        return 20 if -SMALL_INT < obj < SMALL_INT else -1
    elif cls is bytes:
        size = len(obj) * 4 + 3
    elif issubclass(cls, BaseException) and _repr_of(cls) is BaseException.__repr__:
        inner = _short(_ARGS(obj), room, depth + 1)  # ValueError('bad'): as ('bad') and the name
        return -1 if inner < 0 or inner + len(cls.__name__) > room else inner + len(cls.__name__)
    else:
        return _BOUNDS.get(cls, -1)
    return size if size <= room else -1


def _head(obj: Any, budget: int, active: set[int]) -> tuple[str, bool]:
    # `active` holds the ids of the containers being shown, as ``Py_ReprEnter`` does for the builtin
    # reprs: one met again inside itself is ``[...]``.
    budget = max(budget, 1)  # what is left may be less than nothing: any prefix will do
    cls = type(obj)
    render = _HEADS.get(cls)
    if render is None:
        try:  # a subclass whose repr is its base's (which shows no type name)
            render = _INHERITED.get(getattr(cls, "__repr__", None))
        except TypeError:  # an unhashable __repr__
            render = None
        if render is None:
            return repr(obj), True
    return render(obj, budget, active)


def _str_head(obj: Any, budget: int) -> tuple[str, bool]:
    cls = type(obj)
    method = _str_of(cls)
    if isinstance(obj, str) and method is str.__str__:
        if str.__len__(obj) <= budget:
            return str(obj), True
        return str.__getitem__(obj, slice(budget)), False
    if method is object.__str__ or method is bytes.__str__ or method is bytearray.__str__:
        return _head(obj, budget, set())  # str is repr (bytes warn under -b: not at gentrace's call)
    if method is BaseException.__str__:
        args = _ARGS(obj)
        if len(args) == 0:
            return "", True
        return _str_head(args[0], budget) if len(args) == 1 else _head(args, budget, set())
    return str(obj), True


def _plain_head(obj: Any, budget: int, active: set[int]) -> tuple[str, bool]:
    return repr(obj), True


def _text_head(obj: str, budget: int, active: set[int]) -> tuple[str, bool]:
    if str.__len__(obj) <= budget:
        return str.__repr__(obj), True
    # The full repr quotes with " only if the text has a ' and no ": its start must be quoted so.
    double = str.__contains__(obj, "'") and not str.__contains__(obj, '"')
    return _requoted(repr(str.__getitem__(obj, slice(budget))), 0, double), False


def _bytes_head(obj: bytes, budget: int, active: set[int]) -> tuple[str, bool]:
    if bytes.__len__(obj) <= budget:
        return bytes.__repr__(obj), True
    double = bytes.__contains__(obj, 39) and not bytes.__contains__(obj, 34)
    return _requoted(repr(bytes.__getitem__(obj, slice(budget))), 1, double), False


def _bytearray_head(obj: bytearray, budget: int, active: set[int]) -> tuple[str, bool]:
    if len(obj) <= budget:
        return repr(obj), True
    # Its repr escapes every ', whichever quote it takes: only the quote can differ.
    quote = '"' if 39 in obj and 34 not in obj else "'"
    return f"bytearray(b{quote}{repr(obj[:budget])[12:-2]}", False


def _requoted(text: str, at: int, double: bool) -> str:
    # The repr of a str's (or bytes') start, without its closing quote, quoted as the whole one is.
    quote = '"' if double else "'"
    if text[at] == quote:
        return text[:-1]
    body = text[at + 1 : -1]  # quoted otherwise: it has no quote of the other kind
    return f"{text[:at]}{quote}{body if double else body.replace(chr(39), chr(92) + chr(39))}"


def _int_head(obj: int, budget: int, active: set[int]) -> tuple[str, bool]:
    bits = int.bit_length(obj)
    if bits <= 4 * budget + 64:
        return int.__repr__(obj), True
    digits = int((bits - 1) * _LOG10_2) + 1  # at least; the repr has at most 2 more
    most = _max_str_digits()
    if most and digits + 2 >= most:
        return int.__repr__(obj), True  # past the limit, repr raises (cheaply) as it does for the program
    # Its first digits: the integer part of obj / 10**e has them all, and no more than e says.
    first = int.__abs__(obj) // 10 ** (digits - budget - 2)
    return ("-" if int.__lt__(obj, 0) else "") + int.__repr__(first), False


def _max_str_digits() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)  # 3.10.7 and later
    return get() if get is not None else 0


def _items_head(items: Iterable[Any], budget: int, active: set[int], pairs: bool = False) -> tuple[str, bool]:
    """The items (or key-value pairs) joined by ``, ``, as far as `budget` goes."""
    parts: list[str] = []
    used = 0
    for item in items:
        if parts:
            parts.append(", ")
            used += 2
            if used >= budget:
                return "".join(parts), False
        if pairs:
            key, item = item
            text, whole = _head(key, budget - used, active)
            parts.append(text)
            used += len(text)
            if not whole:
                return "".join(parts), False
            parts.append(": ")
            used += 2
            if used >= budget:
                return "".join(parts), False
        text, whole = _head(item, budget - used, active)
        parts.append(text)
        used += len(text)
        if not whole:
            return "".join(parts), False
    return "".join(parts), True


def _enclosed(
    obj: Any,
    items: Iterable[Any],
    budget: int,
    active: set[int],
    opening: str,
    closing: str,
    pairs: bool = False,
) -> tuple[str, bool]:
    active.add(id(obj))
    try:
        text, whole = _items_head(items, budget - len(opening), active, pairs)
    finally:
        active.discard(id(obj))
    return (f"{opening}{text}{closing}", True) if whole else (opening + text, False)


def _list_head(obj: list[Any], budget: int, active: set[int]) -> tuple[str, bool]:
    if list.__len__(obj) == 0:
        return "[]", True
    if id(obj) in active:
        return "[...]", True
    return _enclosed(obj, _list_items(obj), budget, active, "[", "]")


def _list_items(obj: list[Any]) -> Iterator[Any]:
    i = 0
    while i < list.__len__(obj):  # as the builtin repr: a list changed by an item's repr is followed
        yield list.__getitem__(obj, i)
        i += 1


def _tuple_head(obj: tuple[Any, ...], budget: int, active: set[int]) -> tuple[str, bool]:
    size = tuple.__len__(obj)
    if size == 0:
        return "()", True
    if id(obj) in active:
        return "(...)", True
    return _enclosed(obj, tuple.__iter__(obj), budget, active, "(", ",)" if size == 1 else ")")


def _dict_head(obj: dict[Any, Any], budget: int, active: set[int]) -> tuple[str, bool]:
    if id(obj) in active:
        return "{...}", True
    if dict.__len__(obj) == 0:
        return "{}", True
    return _enclosed(obj, dict.items(obj), budget, active, "{", "}", pairs=True)


def _set_head(obj: set[Any] | frozenset[Any], budget: int, active: set[int]) -> tuple[str, bool]:
    name = type(obj).__name__
    if len(obj) == 0:
        return f"{name}()", True
    if id(obj) in active:
        return f"{name}(...)", True
    if type(obj) is set:
        return _enclosed(obj, obj, budget, active, "{", "}")
    return _enclosed(obj, obj, budget, active, f"{name}({{", "})")


def _deque_head(obj: deque[Any], budget: int, active: set[int]) -> tuple[str, bool]:
    if id(obj) in active:
        return "[...]", True
    closing = "])" if obj.maxlen is None else f"], maxlen={obj.maxlen})"
    return _enclosed(obj, obj, budget, active, "deque([", closing)


def _view_head(obj: Any, budget: int, active: set[int]) -> tuple[str, bool]:
    if id(obj) in active:
        return "...", True
    return _enclosed(obj, obj, budget, active, f"{type(obj).__name__}([", "])")


def _defaultdict_head(obj: defaultdict[Any, Any], budget: int, active: set[int]) -> tuple[str, bool]:
    factory = obj.default_factory
    if factory is None:
        made = "None"
    elif id(factory) in active:
        made = "..."
    else:
        active.add(id(factory))
        try:
            made = repr(factory)
        finally:
            active.discard(id(factory))
    opening = f"defaultdict({made}, "
    text, whole = _dict_head(obj, budget - len(opening), active)
    return (f"{opening}{text})", True) if whole else (opening + text, False)


def _exception_head(obj: BaseException, budget: int, active: set[int]) -> tuple[str, bool]:
    name = type(obj).__name__.rpartition(".")[2]
    args = _ARGS(obj)
    if len(args) != 1:
        text, whole = _tuple_head(args, budget - len(name), active)
        return name + text, whole
    text, whole = _head(args[0], budget - len(name) - 1, active)
    return (f"{name}({text})", True) if whole else (f"{name}({text}", False)


# The args the builtin repr and str show, whatever a class says.
_ARGS: Final[Callable[[BaseException], tuple[Any, ...]]] = vars(BaseException)["args"].__get__


def _repr_of(cls: type) -> Any:
    return cls.__repr__


def _str_of(cls: type) -> Any:
    return cls.__str__


_Head = Callable[[Any, int, "set[int]"], "tuple[str, bool]"]
_HEADS: Final[dict[type, _Head]] = {
    float: _plain_head,
    bool: _plain_head,
    type(None): _plain_head,
    complex: _plain_head,
    str: _text_head,
    bytes: _bytes_head,
    bytearray: _bytearray_head,
    int: _int_head,
    list: _list_head,
    tuple: _tuple_head,
    dict: _dict_head,
    set: _set_head,
    frozenset: _set_head,
    deque: _deque_head,
    defaultdict: _defaultdict_head,
    type({}.keys()): _view_head,
    type({}.values()): _view_head,
    type({}.items()): _view_head,
}
_INHERITED: Final[dict[Any, _Head]] = {
    str.__repr__: _text_head,
    bytes.__repr__: _bytes_head,
    int.__repr__: _int_head,
    list.__repr__: _list_head,
    tuple.__repr__: _tuple_head,
    dict.__repr__: _dict_head,
    BaseException.__repr__: _exception_head,
}
