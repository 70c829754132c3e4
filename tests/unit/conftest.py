from hypothesis import HealthCheck, settings

# Enough examples to find boundary bugs while the unit suite stays well under a minute.
settings.register_profile("unit", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# Checking the code against other versions of its packages (the lowest declared ones, in
# tests/integration/test_lowest_versions.py) needs every test, not the search: few examples.
settings.register_profile("compat", max_examples=10, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("unit")
