"""The daemon's systemd units and their installer (`gladtui service`): CLI code.

The installer reads the config and writes files; it imports nothing of the
daemon, so it lives with the CLI. The daemon's own side of systemd (the
notify protocol, the watchdog pulse) is daemon/service/systemd/.
"""
