"""Coroutines 101: generators that receive values with send().

Run it with ``gentrace run samples/averager.py`` to see every
next/send/close, and the value a coroutine returns:

* ``averager#1`` - primed with ``next()``, sent 10, 20 and 6, then closed.
* ``accumulate#1`` - sent 10, 20, 6 and 14, then None; it returns a
  result, which the caller finds in ``StopIteration.value``.
"""


def averager():
    """Yield the running average of every number sent in."""
    total = 0.0
    count = 0
    average = None
    while True:
        # `yield` hands out `average` and pauses; the next send(x)
        # resumes here, and `term` becomes x.
        term = yield average
        total += term
        count += 1
        average = total / count


def accumulate():
    """Collect numbers until sent None, then return a summary."""
    total = 0.0
    count = 0
    while True:
        term = yield  # yields None each time: nothing to report yet
        if term is None:
            break
        total += term
        count += 1
    # `return` in a generator raises StopIteration(value) in the caller.
    return {"count": count, "average": total / count}


def main():
    coro = averager()
    next(coro)  # "prime" it: run up to the first yield
    for term in (10, 20, 6):
        print(f"sent {term:2} -> running average {coro.send(term)}")
    coro.close()  # raises GeneratorExit inside it, at the paused yield
    print("averager closed")

    acc = accumulate()
    next(acc)  # prime
    for term in (10, 20, 6, 14):
        acc.send(term)
    try:
        acc.send(None)  # tell it we are done
    except StopIteration as stop:
        result = stop.value  # the generator's return value
    print("accumulate returned", result)


if __name__ == "__main__":
    main()
