//! In-memory adapters.
//!
//! These are a product feature, not test doubles: they pass the same
//! contract suites as the database stores, so a downstream test suite can
//! build a complete Gatehouse without a database and trust that it behaves
//! the same. Data lives as long as the value (clones share it).

mod audit_log;
mod mfa_store;
mod service_account_store;
mod session_store;
mod throttle;
mod user_store;

pub use audit_log::MemoryAuditLog;
pub use mfa_store::MemoryMfaStore;
pub use service_account_store::MemoryServiceAccountStore;
pub use session_store::MemorySessionStore;
pub use throttle::MemoryLoginThrottle;
pub use user_store::MemoryUserStore;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning: every critical section here leaves
/// the data consistent before it can panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
