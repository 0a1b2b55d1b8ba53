//! Placeholder until the TUI issue lands.
