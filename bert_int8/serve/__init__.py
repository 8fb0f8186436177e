"""Using a model: `predict`, the HTTP service (service, batcher, workers), which model `auto`
serves (choose), and the load test with its client (http_load, load_gen, load_testing)."""
