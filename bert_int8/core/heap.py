"""Long-lived objects out of the cyclic garbage collector's way, in a process that has loaded
its model and is about to serve or be timed."""

import gc


def freeze_heap():
    """Collect, then move every object alive now (the imports, the loaded model, the app) to the
    collector's permanent generation, as a pre-forking server does. Otherwise each full
    collection rescans the whole import graph of torch and transformers: in the benchmark it
    landed in the 5th and 8th real-title pass of every process, each about 40% slower than the
    rest, and in the service it made the 99th-percentile latency several times the median."""
    gc.collect()
    gc.freeze()
