"""l2tech.optics."""
