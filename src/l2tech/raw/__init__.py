"""l2tech.raw."""
