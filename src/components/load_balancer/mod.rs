//! Load-balancer component, balancing policies and health checking.
