"""Statistics with no model in sight: paired tests and intervals for accuracy (significance),
order-statistic intervals for timings (intervals), and the call between timed models (ranking)."""
