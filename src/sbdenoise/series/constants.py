"""Lengths of the series analysis, in angstrom (shared by the pipeline and its report)."""

#: Radius of the disc whose mean is a column's intensity in the profile comparison, angstrom.
PROFILE_RADIUS_A = 0.5
#: Sampling step and strip width of the profile along the surface, angstrom.
PATH_STEP_A = 0.05
PATH_WIDTH_A = 0.4
#: Gaussian blur of both averages before the profile comparison, angstrom.
PROFILE_BLUR_A = 0.2
#: Peak disc and surrounding ring of the series' column test, angstrom.
PEAK_RADIUS_A = 0.5
RING_A = (0.9, 1.3)
