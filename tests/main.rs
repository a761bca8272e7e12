//! Every integration test, in one binary (one link instead of one per file): the HTTP suite
//! (`api/`), storage conformance, the real binary's processes, the operator's workflow, faults,
//! replicas, key rotation, operations, deployment (the systemd unit, TLS, the admin listener), the
//! module ladder, and the core's use cases called without HTTP (`use_cases/`). `support/` starts
//! databases and servers for all of them.
// One binary, no library: what its modules share is `pub` among themselves, and nothing is
// reachable from outside it, so `unreachable_pub` (on for `src`) has nothing to say here.
#![allow(unreachable_pub)]
#[macro_use]
mod support;

mod api;
mod backup;
mod clock_steps;
mod deploy;
mod disk_full;
mod faults;
mod key_rotation;
mod layers;
mod link;
mod operations;
mod operator;
mod process;
mod replicas;
mod retention;
mod sandbox;
mod shared_limits;
mod storage_conformance;
mod upgrade;
mod use_cases;
mod webhooks;
