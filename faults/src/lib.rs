//! What can go wrong, independent of how it is done: partition shapes, node selectors and fault operations. Arrives with the control-plane issue.
