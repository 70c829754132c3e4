"""One module per command; each reads as phases: load, plan, show or execute, report."""
