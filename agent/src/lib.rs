//! Placeholder until the agent issue lands.
