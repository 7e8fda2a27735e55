"""The Feast repository of the platform and the feature transformations it is built from."""
