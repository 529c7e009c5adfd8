"""One module per `nt-tui` subcommand: HELP, add_arguments(parser), run(args) -> int."""
