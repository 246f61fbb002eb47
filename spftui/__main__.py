try:
    from .cli import main
except KeyboardInterrupt:  # (Ctrl-C while the command line's modules load: cli.main covers the rest)
    import sys

    print("spftui: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
