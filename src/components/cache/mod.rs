//! Cache component and its eviction structures.
