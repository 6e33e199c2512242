//! Capacity backends: where workers come from. `local` keeps worker processes alive on
//! this machine (the embedded default); `kubernetes` runs a Job per attempt plus a warm
//! pool of worker pods; `external` leaves it to someone else.

pub mod kubernetes;
pub mod local;
