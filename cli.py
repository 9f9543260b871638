"""Run the snndeploy command line from a checkout: `python cli.py COMMAND ...`."""

from snndeploy.cli import main

if __name__ == "__main__":
    main()
