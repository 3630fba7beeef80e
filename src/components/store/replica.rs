//! The replica component: adapts a [`ReplicaPolicy`] to the engine (being wired).
