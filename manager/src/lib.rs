//! berth's library: the image store and, later, containers, networks, volumes.

pub mod api;
pub mod build;
pub mod container;
pub mod events;
pub mod fault;
pub mod format;
pub mod image;
pub mod network;
pub mod volume;
