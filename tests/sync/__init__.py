"""Tests of the sync engine (tipdata.sync) and its operations commands."""
