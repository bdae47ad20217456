//! The key logic both Lambda functions share: the token format, the domain model, scopes and
//! route rules, configuration, and the store.
//!
//! Everything here but the store is pure and synchronous, so the rules that decide who gets
//! in are unit- and property-tested without any I/O. The store traits keep the functions
//! independent of DynamoDB; only [`store::dynamodb`] knows the AWS SDK.

// Without a store (the fuzz targets build so), the helpers the stores share go unused.
#![cfg_attr(not(any(feature = "dynamodb", feature = "embedded")), allow(dead_code))]

pub mod audit;
pub mod clock;
pub mod config;
pub mod duration;
pub mod expiry;
pub mod flush;
pub mod ids;
pub mod model;
pub mod routes;
pub mod scope;
pub mod store;
pub mod telemetry;
pub mod token;

pub use clock::{Clock, FileClock, ManualClock, SystemClock};
pub use config::{Config, ConfigError, Limits};
pub use duration::Span;
pub use ids::{BotId, EventId, KeyId};
pub use model::{ApiKey, BotUser, KeyStatus, KeyUse, Name, Principal, SourceIp, Subject, TeamId};
pub use scope::{Scope, ScopeCatalog, Scopes};
