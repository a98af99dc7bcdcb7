"""l2tech.io."""
