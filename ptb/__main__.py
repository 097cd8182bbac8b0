from ptb.cli import main

# Guarded: vLLM may start its engine with multiprocessing "spawn", which re-imports this
# module in the child; unguarded, the child would run the command line again.
if __name__ == "__main__":
    raise SystemExit(main())
