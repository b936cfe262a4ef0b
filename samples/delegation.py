"""Delegation with ``yield from``: a pipeline of generators that hand work down the line.

Run it with ``gentrace run samples/delegation.py``: each step of the outer generator shows the
inner generator's steps indented beneath it, and the value an inner generator *returns* arrives
in the outer one as the value of its ``yield from`` expression.

* ``read_numbers#1`` yields the numbers of a small "file", line by line.
* ``counted#1`` delegates to ``read_numbers`` with ``yield from``, and returns a label.
* ``report#1`` delegates to ``counted`` and yields that label at the end.
"""

LINES = ["3", "1", "4", "1", "5"]


def read_numbers(lines):
    """Yield each line as an int; return how many there were."""
    count = 0
    for line in lines:
        count += 1
        yield int(line)
    return count


def counted(lines):
    """Pass every number through, and return how many there were, with a label."""
    # `yield from` forwards each value out, each next()/send() in,
    # and evaluates to the inner generator's return value.
    count = yield from read_numbers(lines)
    return f"{count} numbers read"


def report(lines):
    """Yield the numbers, then the line the inner generators returned."""
    summary = yield from counted(lines)
    yield summary


if __name__ == "__main__":
    for item in report(LINES):
        print("got", item)
