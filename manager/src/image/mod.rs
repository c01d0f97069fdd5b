//! The image half of berth: a content-addressed store of blobs, unpacked
//! layers shared by chain id, and image records; plus everything that moves
//! images in and out of it (registries, archives, rootfs tarballs).

pub mod archive;
pub mod auth;
pub mod client;
pub mod config;
pub mod digest;
pub mod import;
pub mod inspect;
pub mod layers;
pub mod lock;
pub mod merged;
pub mod progress;
pub mod proxy;
pub mod reference;
pub mod registry;
pub mod search;
pub mod store;
pub mod time;
pub mod types;
