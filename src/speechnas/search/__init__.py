"""Architecture search: strategies, Pareto fronts, and the search loop."""
