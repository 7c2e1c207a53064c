//! The platform's migrations. Module crates contribute theirs through the
//! module contract; all of them run through [`crate::migrate`].

mod m0001_platform;
mod m0002_event_log;

use sea_orm_migration::MigrationTrait;

/// The platform migrations, in order.
pub fn platform() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m0001_platform::Migration), Box::new(m0002_event_log::Migration)]
}
