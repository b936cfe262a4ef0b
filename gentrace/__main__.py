"""``python -m gentrace`` runs the command line."""

from gentrace.cli import main

if __name__ == "__main__":
    main()
