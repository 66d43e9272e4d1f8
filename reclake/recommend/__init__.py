"""Recommendations from factors: the exact top-N kernel (numpy), its Spark wiring, eligibility and fallback."""
