//! Gatehouse's HTTP API (actix-web) and the `gatehouse` binary's pieces.
//!
//! Everything under [`routes`], [`auth`], [`extract`], [`responses`],
//! [`cors`], [`error`] and [`server`] is
//! generic over the adapter set ([`gatehouse_application::Adapters`]): a
//! test suite can serve the same API over in-memory stores with
//! [`server::start`]. Only [`compose`] (and the CLI that calls it) names
//! concrete adapters.

pub mod auth;
pub mod cli;
pub mod client_address;
pub mod compose;
pub mod cors;
pub mod error;
pub mod extract;
pub mod responses;
pub mod routes;
pub mod server;
pub mod settings;
pub mod telemetry;
