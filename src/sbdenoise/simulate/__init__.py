"""HRTEM simulation with abTEM: exit waves, CTF per defocus, detector; resumable datasets."""
