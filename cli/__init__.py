"""The command line: `hiermusic` and its subcommands, on top of every other room."""
