"""`python -m greenh2` is the `greenh2` command."""
from greenh2.server.cli import main

if __name__ == "__main__":
    main()
