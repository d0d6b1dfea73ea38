"""Speed and memory benchmarks of xprompt (issue #6): `python -m benchmarks --help`.

Every benchmark times its variants side by side in one process, interleaved
(A B C A B C ...) after a warm-up, and reports medians and ratios; peak memory is
read from `ru_maxrss` of a fresh subprocess per variant."""
