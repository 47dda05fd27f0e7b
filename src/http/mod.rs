//! The poem application: listeners, resources and one module per surface.
