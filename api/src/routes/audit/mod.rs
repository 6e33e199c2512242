//! The org's audit log, read side: who changed what, when, and how it answered. The
//! events are written by the audit middleware; services may only append to the table.

pub mod list;
