"""l2tech.video."""
