//! berth's library: the image store and, later, containers, networks, volumes.

pub mod format;
pub mod image;
pub mod network;
