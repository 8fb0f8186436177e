"""Dynamic batching for the service: titles of concurrent requests share one forward pass.

One inference thread takes the oldest waiting request, then keeps collecting requests until it
holds `max_batch` titles or `max_wait_ms` has passed since that request arrived, whichever comes
first (Triton's dynamic batcher and Ray Serve's @serve.batch bound waiting the same way), runs
one forward pass and hands each caller its own slice, in order. The event loop only awaits.
The default wait is 0: a pass takes whatever is queued, and under load requests queue while
the previous pass runs (text-embeddings-inference batches the same way); measured here, a
2 ms wait only cost single clients latency.

The queue is bounded in titles (text-embeddings-inference bounds it too): past `max_queue`, a
request is refused at once (the service answers 503 with Retry-After) instead of waiting
without bound. A request whose caller stopped waiting (timed out) leaves the queue at once.

Only models whose answer for a title does not depend on its batch-mates share batches across
requests: FP32, BF16 and static int8. Dynamic int8 scales activations per batch, so it would
make one user's answer move with another user's traffic; such a model runs each request as
its own batch (`shares_batches=False`).

With `streams` > 1 (a model that runs several calls at once: OpenVINO's throughput streams,
`serve --streams`), that many inference threads take batches from the one queue, each as
above, so one pass runs while the next is collected.
"""

import asyncio
import collections
import threading
import time

from bert_int8.core import serving_limits


class QueueFull(Exception):
    """More titles are waiting than the queue holds."""


class Closed(Exception):
    """The batcher was closed (the service is shutting down)."""


class _Job:
    __slots__ = ("texts", "future", "loop", "enqueued")

    def __init__(self, texts, future, loop):
        self.texts, self.future, self.loop, self.enqueued = texts, future, loop, time.monotonic()


class DynamicBatcher:
    def __init__(
        self,
        predict,
        max_batch=serving_limits.MAX_BATCH,
        max_wait_ms=serving_limits.MAX_WAIT_MS,
        max_queue=serving_limits.MAX_QUEUE,
        shares_batches=True,
        on_batch=None,
        streams=1,
    ):
        """`predict(texts) -> list of results, one per text` runs one forward pass (in an
        inference thread; `streams` of them); `on_batch(titles, requests)` is told the size of
        each pass."""
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait_ms / 1000
        self.max_queue, self.shares_batches, self.on_batch = max_queue, shares_batches, on_batch
        self.jobs, self.queued_titles = collections.deque(), 0
        self.cond = threading.Condition()
        self.closed = False
        self.threads = [threading.Thread(target=self._run, name=f"inference-{i}", daemon=True) for i in range(streams)]
        for thread in self.threads:
            thread.start()

    def depth(self):
        return self.queued_titles

    def alive(self):
        return all(t.is_alive() for t in self.threads) and not self.closed

    async def submit(self, texts):
        """The results for `texts`, in order, once their batch has run; QueueFull when full."""
        loop = asyncio.get_running_loop()
        job = _Job(list(texts), loop.create_future(), loop)
        with self.cond:
            if self.closed:
                raise Closed("the service is shutting down")
            if self.queued_titles + len(job.texts) > self.max_queue:
                raise QueueFull(f"{self.queued_titles} titles waiting, at most {self.max_queue}")
            self.jobs.append(job)
            self.queued_titles += len(job.texts)
            # all: with several inference threads, the one collecting a batch must see it too
            self.cond.notify_all()
        job.future.add_done_callback(lambda _: self._forget(job))
        return await job.future

    def _forget(self, job):
        """A job whose caller stopped waiting leaves the queue (its titles no longer count)."""
        if not job.future.cancelled():
            return
        with self.cond:
            try:
                self.jobs.remove(job)
            except ValueError:
                return  # already taken by the inference thread
            self.queued_titles -= len(job.texts)

    def close(self):
        """Stop the inference threads; every request still queued gets Closed."""
        with self.cond:
            self.closed = True
            pending, self.jobs, self.queued_titles = list(self.jobs), collections.deque(), 0
            self.cond.notify_all()
        for job in pending:
            self._settle(job, None, Closed("the service is shutting down"))
        for thread in self.threads:
            thread.join(timeout=10)

    def _take(self):
        """The next batch of jobs (waiting for the first, then until max_wait after it arrived)."""
        with self.cond:
            while not self.jobs and not self.closed:
                self.cond.wait()
            if self.closed:
                return []
            batch = [self.jobs.popleft()]
            titles = len(batch[0].texts)
            deadline = batch[0].enqueued + self.max_wait
            while self.shares_batches and titles < self.max_batch:
                if not self.jobs:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.closed:
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
            batch = [job for job in batch if not job.future.cancelled()]
            if not batch:
                continue
            texts = [t for job in batch for t in job.texts]
            try:
                results = self.predict(texts)
                if len(results) != len(texts):
                    raise RuntimeError(f"the model answered {len(results)} of {len(texts)} titles")
                if self.on_batch:
                    self.on_batch(len(texts), len(batch))
            except Exception as err:  # handed to every caller of the batch; the thread goes on
                for job in batch:
                    self._settle(job, None, err)
                continue
            start = 0
            for job in batch:
                self._settle(job, results[start : start + len(job.texts)], None)
                start += len(job.texts)

    @staticmethod
    def _settle(job, result, error):
        try:
            job.loop.call_soon_threadsafe(_settle, job.future, result, error)
        except RuntimeError:
            pass  # the caller's event loop has closed: nobody is waiting for this answer


def _settle(future, result, error):
    if future.done():  # cancelled by a timeout meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
