"""Hypothesis profiles: CI and the README's test command run the property tests on a fixed
set of examples ("deterministic"), so a run is repeatable and a red build means a change
broke something, not that a new random example turned up; `--hypothesis-profile explore`
searches fresh examples, which is how to hunt for new counterexamples."""

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("deterministic")
