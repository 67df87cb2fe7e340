//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use capdl::Spec;

/// The text of a spec in which every design rule holds.
pub const GOOD: &str = include_str!("../fixtures/good.cdl");

/// [`GOOD`], parsed.
pub fn good() -> Spec {
    capdl::parse(GOOD).unwrap_or_else(|e| panic!("good.cdl: {e}"))
}

/// [`GOOD`] with `from` replaced by `to` (which must occur), parsed.
pub fn good_with(from: &str, to: &str) -> Spec {
    assert!(GOOD.contains(from), "fixture has no `{from}`");
    let text = GOOD.replacen(from, to, 1);
    capdl::parse(&text).unwrap_or_else(|e| panic!("edited good.cdl: {e}"))
}
