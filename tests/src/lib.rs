//! End-to-end tests against real local clusters and the simulator live in `tests/`; this library holds their shared helpers as they arrive.
