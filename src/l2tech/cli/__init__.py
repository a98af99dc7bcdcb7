"""l2tech.cli."""
