"""Real servers (Swift, PostgreSQL) for the integration tests, the demo and benchmarks."""
