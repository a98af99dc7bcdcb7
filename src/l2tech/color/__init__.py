"""l2tech.color."""
