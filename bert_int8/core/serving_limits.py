"""The service's limits by default, in one place with no imports: `bert-int8 serve` (whose base
install has no pydantic), the service, the batcher and the load test's params all read them, so
that `bert-int8 serve` with no flags is what the committed load test measured."""

MAX_BATCH = 64  # most titles in one forward pass across requests
MAX_WAIT_MS = 0.0  # how long a pass waits for more titles
MAX_QUEUE = 4096  # titles waiting before 503
MAX_TEXTS = 256  # most titles in one request
MAX_CHARS = 512  # longest title accepted
TIMEOUT_S = 10.0  # a request not answered by then gets 504
