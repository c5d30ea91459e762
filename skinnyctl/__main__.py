from skinnyctl.cli import main

main()
