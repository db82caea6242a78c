"""Dataset indexers, the datalist schema, splits and the synthetic generator."""
