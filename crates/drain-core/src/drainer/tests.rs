//! Stories of the use cases over the in-memory ports.
