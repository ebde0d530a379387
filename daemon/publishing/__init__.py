"""Publishing: an approved image placed (publishers/) and its post made (destinations/), once."""
