from bonusbridge.cli import main

main()
