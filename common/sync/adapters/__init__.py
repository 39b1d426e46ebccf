"""Adapters that put each platform behind the sync ports (`tipdata.sync.ports`)."""
