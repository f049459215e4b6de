"""The results of a sweep: its run table, aggregates and verdicts on the paper's hypothesis."""
