"""`python -m pumpapi …` runs the command line."""

from pumpapi.cli import main

main()
