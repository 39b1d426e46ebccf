"""Tests of the logic language (tipdata.logic)."""
