"""Usage metering: atomic per-workspace counters that plans' quotas are checked against."""
