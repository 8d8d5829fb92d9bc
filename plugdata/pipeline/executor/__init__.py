"""Where a run's parallel work goes."""
