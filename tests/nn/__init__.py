"""Tests of sbdenoise.nn."""
