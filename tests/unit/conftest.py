"""Unit-test settings.

``--hypothesis-profile=mutation`` (set by ``[tool.mutmut]`` in pyproject.toml)
drops Hypothesis's per-example deadline: mutmut runs the tests traced, on a
machine busy with other mutants, and a slow example there is not a kill.
"""

from hypothesis import settings

settings.register_profile("mutation", deadline=None)
