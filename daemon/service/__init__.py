"""The service: the daemon process that puts the subsystems together, its lock, log and folders."""
