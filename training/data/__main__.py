"""``python -m training.data``: fetch and convert every built-in data set."""

from training.data import main

main()
