"""gladtui as a system service under a real systemd: `scripts/system-test`.

Not collected by pytest (no module here is named test_*): it needs root and
boots a Debian root with systemd as PID 1 in namespaces of its own. Run it
with `scripts/system-test`; `.ci/run` does, after the unit tests.
"""
