"""l2tech.calibrate."""
