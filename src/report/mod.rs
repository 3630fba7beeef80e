//! Reports: tables, CSV/JSON, charts and HTML. Reads results, never a live simulation.
