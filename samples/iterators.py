"""Iterators 101: what a for loop asks of the thing it loops over.

Run it with ``gentrace run --iterators samples/iterators.py`` and look for:

* ``list_iterator#1`` to ``#3`` - two nested loops over one list: each
  loop calls iter() on the list and gets an iterator of its own (the
  inner loop a new one each time round), so all four pairs are printed.
* ``enumerate#1`` - the same two loops over one enumerate object, which
  is its own iterator: both loops share it, the inner one exhausts it,
  and the outer loop ends at once ("already exhausted"): one pair.
* ``list_iterator#4`` - iter() and next() by hand; next(it, default)
  gives the default instead of raising StopIteration.
* ``dict_keyiterator#1``, ``genexpr@LINE#1`` and ``Countdown#1`` - a
  dict's keys, a generator expression, and a class that implements the
  iterator protocol itself.
"""


class Countdown:
    """Count down from `start` to 1: an iterator written by hand."""

    def __init__(self, start):
        self.current = start

    def __iter__(self):
        return self  # an iterator is its own iterable

    def __next__(self):
        if self.current == 0:
            raise StopIteration  # the protocol's "no more items"
        self.current -= 1
        return self.current + 1


def pairs(items):
    """Print (a, b) for a loop over `items` inside a loop over `items`."""
    for a in items:
        for b in items:
            print(" ", a, b)


def main():
    letters = ["a", "b"]
    print("two loops over a list (a new iterator each):")
    pairs(letters)
    print("two loops over one enumerate object (one shared iterator):")
    pairs(enumerate(letters))

    print("iter() and next() by hand, with a default for the end:")
    it = iter(letters)
    print(" ", next(it), next(it), next(it, "(no more)"))

    print("a dict's keys:")
    ages = {"ada": 36, "alan": 41}
    for name in ages:
        print(" ", name, ages[name])

    shouted = "".join(letter.upper() for letter in letters)
    print("a generator expression:", shouted)

    print("a class with __iter__ and __next__:")
    for n in Countdown(2):
        print(" ", n)


if __name__ == "__main__":
    main()
