//! The generated CLI reference, `docs/cli.md`.

use std::fmt::Write as _;

use clap::CommandFactory;

use crate::cli::Cli;

/// Every command's full help, in command-tree order, as Markdown.
pub(crate) fn cli_reference() -> String {
    let mut root = Cli::command();
    root.build();
    let mut out = String::from(
        "# `ganglion` command line\n\n\
         Generated from the help text in `src/cli.rs`; do not edit. After changing a command, \
         run `GANGLION_BLESS=1 cargo test -p ganglion cli_reference` and commit the result.\n",
    );
    write_command(&mut out, &mut root, "ganglion");
    out
}

fn write_command(out: &mut String, command: &mut clap::Command, path: &str) {
    let help = command.render_long_help().to_string();
    let _ = write!(out, "\n## `{path}`\n\n```text\n{}\n```\n", help.trim_end());
    for sub in command.get_subcommands_mut() {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_path = format!("{path} {}", sub.get_name());
        write_command(out, sub, &sub_path);
    }
}
