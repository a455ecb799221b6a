"""Running the bundle on one machine without Docker or AWS: development tooling, left out of the layer."""
