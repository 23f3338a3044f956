//! Gatehouse integration suites live in `tests/suites`.
