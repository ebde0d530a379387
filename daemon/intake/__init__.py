"""Intake: the drop folder watched, a file taken once it is stable, a task made from it."""
