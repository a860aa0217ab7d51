"""paretolab: find the trade-off front between competing training objectives."""

__version__ = "0.1.0"
