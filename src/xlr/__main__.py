from xlr.cli import main

main()
