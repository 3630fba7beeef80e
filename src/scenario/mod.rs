//! Scenario files: RON types ([`spec`]), loading with positions and variants
//! ([`load`]), and the validated form everything else reads ([`validated`]).
//! Only this module, `report` and `main` touch the filesystem.

pub mod error;
pub mod load;
pub mod ronspan;
pub mod spec;
pub mod validated;

pub use error::{Diagnostic, LoadError};
pub use load::{Loaded, Variant, load_file, load_str};
pub use validated::Scenario;
