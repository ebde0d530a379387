"""systemd integration: the unit files, their installer, and the notify protocol."""
