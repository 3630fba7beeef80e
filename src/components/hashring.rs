//! Consistent hashing (virtual nodes, bounded loads) and modulo placement.
