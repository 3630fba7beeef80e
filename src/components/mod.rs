//! Domain components: clients, servers, network, load balancers, caches, stores.
//! Components do no IO and read no clock; every effect goes through the engine context.

pub mod cache;
pub mod client;
pub mod dns;
pub mod faults;
pub mod hashring;
pub mod load_balancer;
pub mod mq;
pub mod network;
pub mod server;
pub mod store;
