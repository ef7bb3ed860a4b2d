"""Where and how the arithmetic runs: device and distributed setup (``distributed``), mixed
precision (``precision``), CPU threads and loader workers chosen from the machine (``threads``).
Needs only layer 0; training and inference build on it."""
