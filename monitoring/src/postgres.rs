//! The throwaway PostgreSQL cluster the stack's tests stop and start: the test kit's
//! ([`aiplatform_testkit::postgres::Cluster`]), the same one the PostgreSQL exporter's tests
//! run against.

pub use aiplatform_testkit::postgres::Cluster;
