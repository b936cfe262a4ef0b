"""Generators 101: an infinite generator and a finite one.

Run it with ``gentrace run samples/fib.py`` and look for:

* ``fib#1`` - resumed with ``next()`` six times, then left suspended on
  purpose, so the log reports it as "still suspended at exit".
* ``fib#2`` - driven by a ``for`` loop that stops itself with ``break``.
* ``squares#1`` - a finite generator run until it raises StopIteration.
"""


def fib():
    """Yield 1, 2, 3, 5, 8, 13, ... forever."""
    a, b = 1, 2
    while True:
        yield a  # execution pauses here until the next next()
        a, b = b, a + b


def squares(n):
    """Yield 0, 1, 4, ... (n-1)**2, then finish."""
    for i in range(n):
        yield i * i
    # Falling off the end raises StopIteration in the caller.


def main():
    # 1. Drive a generator by hand with next().
    numbers = fib()  # nothing runs yet: we only got a generator object
    print("first six Fibonacci numbers with next():")
    for _ in range(6):
        print(" ", next(numbers))
    # We never finish `numbers`: it stays suspended at its `yield` on
    # purpose (main() hands it back to the module, which keeps it), so the
    # gentrace log shows it "still suspended at exit".

    # 2. A for-loop calls next() for us; `break` stops an infinite one.
    print("Fibonacci numbers up to 100 with a for-loop over a new fib():")
    for value in fib():
        if value > 100:
            break
        print(" ", value)

    # 3. A finite generator ends with StopIteration - normally the
    #    for-loop swallows it, here we catch it ourselves to see it.
    print("squares(4) with next() until StopIteration:")
    gen = squares(4)
    while True:
        try:
            square = next(gen)
        except StopIteration:
            print("  StopIteration: squares(4) is exhausted")
            break
        print(" ", square)
    return numbers


if __name__ == "__main__":
    forgotten = main()
