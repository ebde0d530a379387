"""`gladtui web`: the review page in a browser tab, served on 127.0.0.1 and passed
through to the daemon's socket (guard.py: who may ask; proxy.py: what passes;
server.py: the app; command.py: the command; static/: the page)."""
