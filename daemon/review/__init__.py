"""Review: what a task allows, and the decisions (approve, reject, generate, undo) taken on it."""
