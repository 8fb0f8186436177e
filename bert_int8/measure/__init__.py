"""Measuring the built models: accuracy on test (evaluate), timing in fresh processes (timing,
launcher, comparison), what disturbs a run (disturbance, canary), sizes, the kernel rate and the
reference shape, and the benchmark stage that puts them together."""
