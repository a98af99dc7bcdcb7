"""l2tech.profiles."""
