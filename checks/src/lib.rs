//! Tests that lint and cross-check the monitoring-as-code files.
