"""Analysis of noisy and denoised images: noise statistics, atom columns, trust maps."""
