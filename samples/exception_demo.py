"""Exceptions and generators: throw() and close().

Run it with ``gentrace run samples/exception_demo.py`` and look for:

* ``demo_exc_handling#1`` - sent values, thrown a DemoException that it
  handles (it keeps running), then a ZeroDivisionError that it does not
  handle: the error escapes to the caller and the coroutine is closed.
* ``with_finally#1`` - closed while suspended: close() raises
  GeneratorExit at the paused yield, which runs its ``finally`` block.
"""

import inspect


class DemoException(Exception):
    """An exception type for this demonstration."""


def demo_exc_handling():
    print("-> coroutine started")
    try:
        while True:
            try:
                x = yield
            except DemoException:  # thrown in with .throw(DemoException)
                print("*** DemoException handled. Continuing...")
            else:  # resumed normally with .send(x)
                print(f"-> coroutine received: {x!r}")
    finally:
        # Runs however the coroutine ends: close(), or an unhandled error.
        print("-> coroutine ending")


def with_finally():
    try:
        yield 1
        yield 2
    finally:
        print("-> cleaning up")


def main():
    coro = demo_exc_handling()
    next(coro)  # prime
    coro.send(34)
    coro.send(343444)
    coro.throw(DemoException)  # handled inside: the coroutine goes on
    coro.send("hi")
    try:
        coro.throw(ZeroDivisionError)  # not handled inside: it escapes
    except ZeroDivisionError:
        print("caller caught the ZeroDivisionError the coroutine did not handle")
    print("state:", inspect.getgeneratorstate(coro))  # GEN_CLOSED

    gen = with_finally()
    print("with_finally gave", next(gen))
    print("before close()")
    gen.close()  # GeneratorExit at `yield 1` runs the finally block
    print("after close(); state:", inspect.getgeneratorstate(gen))


if __name__ == "__main__":
    main()
