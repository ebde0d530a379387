"""systemd integration on the daemon's side: the notify protocol and the watchdog pulse.

The unit files and their installer are CLI code: gladtui/systemd/.
"""
