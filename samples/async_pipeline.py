"""An async-generator pipeline: producer → transform → consumer, and backpressure in the log.

``readings`` (the producer) takes a tick to make each reading; ``scaled`` (the transform)
multiplies each by a factor, which the consumer changes half-way with ``asend()``; ``consume``
takes three ticks over each item, so it is the slow end.

Nothing is made ahead: the pipeline is *pulled*. Run it with ``gentrace run
samples/async_pipeline.py`` and every ``await anext(readings#1)`` sits inside an
``await anext(scaled#1)`` (or ``asend``), which ``consume#1`` starts only once it has finished
with the previous item — the producer, though three times faster, waits for the consumer.
That nesting is the backpressure. ``<sleep …>`` shows who waits, and for how long.

Then the consumer closes the pipeline: ``aclose()`` throws ``GeneratorExit`` into ``scaled``,
whose ``finally`` closes ``readings`` in turn. A second consumer is cancelled while it waits for
a reading: the loop throws ``CancelledError`` into it (``throw``), and it travels down through
both generators, each ``finally`` running on the way.
"""

import argparse
import asyncio


async def readings(tick, every=1):
    """The producer: a new reading every `every` ticks, made only when one is asked for."""
    n = 0
    try:
        while True:
            await asyncio.sleep(every * tick)
            n += 1
            print(f"  producer: reading {n}")
            yield n
    finally:
        print("  producer: stopped")


async def scaled(source, factor):
    """The transform: each reading times `factor`; ``asend(f)`` makes `f` the new factor."""
    try:
        async for reading in source:
            new = yield reading * factor
            if new is not None:
                factor = new
    finally:
        await source.aclose()  # closing the pipeline closes what feeds it
        print("  transform: stopped")


async def consume(stream, items, tick):
    """The consumer: three ticks over each item; after the second, it asks for ×10."""
    total = 0
    item = await anext(stream)
    for i in range(1, items + 1):
        print(f"consumer: got {item}")
        total += item
        await asyncio.sleep(3 * tick)  # busy with the item: nobody produces meanwhile
        if i == items:
            break
        item = await (stream.asend(10) if i == 2 else anext(stream))
    await stream.aclose()
    return total


async def main(tick):
    total = await consume(scaled(readings(tick), 1), 4, tick)
    print(f"consumer: total {total}")

    slow = scaled(readings(tick, every=10), 1)
    second = asyncio.create_task(consume(slow, 4, tick), name="consumer 2")
    await asyncio.sleep(3 * tick)  # consumer 2 is waiting for its first reading
    second.cancel()
    try:
        await second
    except asyncio.CancelledError:
        print("consumer 2: cancelled while waiting for a reading")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="An async-generator pipeline with a slow consumer.")
    parser.add_argument("--tick", type=float, default=0.05, help="seconds (default 0.05)")
    asyncio.run(main(parser.parse_args().tick))
