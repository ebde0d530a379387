"""Generation on a Ray cluster: replicas as actors, the connection kept, leftovers cleared."""
