//! Pure functions over a recorded history: mastership, linearizability, sets, statistics. Arrives with the checkers issue.
