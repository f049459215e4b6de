"""The results of a sweep: its tables (``table``), verdicts on the paper's
hypothesis (``verdicts``, which imports SciPy, so it is not imported here)
and the report (``report``)."""

from frivolous.results.results_table import load_results

__all__ = ["load_results"]
