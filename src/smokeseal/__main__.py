from smokeseal.cli import main

main()
