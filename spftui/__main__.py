try:
    from .cli import main
except (KeyboardInterrupt, RuntimeError) as e:
    # Ctrl-C while the command line's modules load (cli.main covers the rest); a RuntimeError
    # is one only when it wraps a Ctrl-C, as cli.main says
    if isinstance(e, RuntimeError) and not isinstance(e.__cause__, KeyboardInterrupt):
        raise
    import sys

    print("spftui: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
