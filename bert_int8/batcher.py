"""Dynamic batching for the service: titles of concurrent requests share one forward pass.

One inference thread takes the oldest waiting request, then keeps collecting requests until it
holds `max_batch` titles or `max_wait_ms` has passed since it took the first one, whichever
comes first (Triton's dynamic batcher and Ray Serve's @serve.batch bound waiting the same way),
runs one forward pass and hands each caller its own slice, in order. The event loop only awaits.

The queue is bounded in titles (text-embeddings-inference bounds it too): past `max_queue`, a
request is refused at once (the service answers 503 with Retry-After) instead of waiting
without bound; a request not answered within `timeout_s` is dropped (504).

Only models whose answer for a title does not depend on its batch-mates share batches across
requests: FP32, BF16 and static int8. Dynamic int8 scales activations per batch, so it would
make one user's answer move with another user's traffic; such a model runs each request as
its own batch (`shares_batches=False`).
"""

import asyncio
import collections
import threading
import time


class QueueFull(Exception):
    """More titles are waiting than the queue holds."""


class _Job:
    __slots__ = ("texts", "future", "loop", "enqueued")

    def __init__(self, texts, future, loop):
        self.texts, self.future, self.loop, self.enqueued = texts, future, loop, time.monotonic()


class DynamicBatcher:
    def __init__(self, predict, max_batch=64, max_wait_ms=2.0, max_queue=1024, shares_batches=True, on_batch=None):
        """`predict(texts) -> list of results` runs one forward pass (in the inference thread);
        `on_batch(titles, requests)` is told the size of each pass (for /metrics)."""
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait_ms / 1000
        self.max_queue, self.shares_batches, self.on_batch = max_queue, shares_batches, on_batch
        self.jobs, self.queued_titles = collections.deque(), 0
        self.cond = threading.Condition()
        self.closed = False
        self.forward_passes = 0
        self.thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self.thread.start()

    def depth(self):
        return self.queued_titles

    async def submit(self, texts):
        """The results for `texts`, in order, once their batch has run; QueueFull when full."""
        loop = asyncio.get_running_loop()
        job = _Job(list(texts), loop.create_future(), loop)
        with self.cond:
            if self.queued_titles + len(job.texts) > self.max_queue:
                raise QueueFull(f"{self.queued_titles} titles waiting, at most {self.max_queue}")
            self.jobs.append(job)
            self.queued_titles += len(job.texts)
            self.cond.notify()
        return await job.future

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify()
        self.thread.join(timeout=10)

    def _take(self):
        """The next batch of jobs (waiting for the first, then up to max_wait for more)."""
        with self.cond:
            while not self.jobs and not self.closed:
                self.cond.wait()
            if self.closed:
                return []
            batch = [self.jobs.popleft()]
            titles = len(batch[0].texts)
            deadline = time.monotonic() + self.max_wait
            while self.shares_batches and titles < self.max_batch:
                if not self.jobs:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(left)
                    continue
                if titles + len(self.jobs[0].texts) > self.max_batch:
                    break
                job = self.jobs.popleft()
                batch.append(job)
                titles += len(job.texts)
            self.queued_titles -= titles
            return batch

    def _run(self):
        while True:
            batch = self._take()
            if not batch:
                return
            batch = [job for job in batch if not job.future.cancelled()]  # timed out while waiting
            if not batch:
                continue
            texts = [t for job in batch for t in job.texts]
            try:
                results, error = self.predict(texts), None
            except Exception as err:  # handed to every caller of the batch, the thread goes on
                results, error = None, err
            self.forward_passes += 1
            if self.on_batch:
                self.on_batch(len(texts), len(batch))
            start = 0
            for job in batch:
                part = None if error else results[start : start + len(job.texts)]
                start += len(job.texts)
                try:
                    job.loop.call_soon_threadsafe(_settle, job.future, part, error)
                except RuntimeError:
                    pass  # the caller's event loop has closed: nobody is waiting for this answer


def _settle(future, result, error):
    if future.done():  # cancelled by a timeout meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
