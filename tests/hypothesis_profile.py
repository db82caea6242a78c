"""The hypothesis settings of the property tests: modest, deterministic, no deadline.

Imported by the property-test modules (not from ``conftest.py``): ``derandomize=True`` makes every run draw the
same examples, so a failure in CI is reproducible and a green run stays green.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "mammo",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("mammo")
