"""Updating: recalibration to a new population, retraining on added cohorts, and the
champion/challenger gate both pass through."""
