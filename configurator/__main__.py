"""python -m configurator: the fenpei command line."""

from configurator.cli import main

main()
