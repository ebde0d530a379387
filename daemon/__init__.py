"""The gladtui daemon: the only owner of the DuckDB file.

Not the python-daemon package, which shares this import name; gladtui never
depends on it (systemd does the daemonizing) and a test checks the name
resolves to this tree.
"""
