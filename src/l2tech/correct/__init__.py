"""l2tech.correct."""
