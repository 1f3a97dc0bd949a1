from smokeseal._startup import main

main()
