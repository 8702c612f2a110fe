"""Tests of sbdenoise.training."""
