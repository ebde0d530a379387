"""The `gladtui` command (main.py) and the modules only it uses.

Kept empty so that importing a module of the CLI loads nothing else of it.
"""
