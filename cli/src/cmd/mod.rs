//! One module per subcommand.

pub mod account;
pub mod delete;
pub mod download;
pub mod edit;
pub mod get;
pub mod list;
pub mod login;
pub mod upload;
