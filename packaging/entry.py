"""PyInstaller entry script: the one-file ``skinnyctl`` executable starts here."""

from skinnyctl.cli import main

if __name__ == "__main__":
    main()
