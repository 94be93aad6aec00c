//! `mcbot completions <shell>` and `mcbot man`: generated from the clap definition itself, so the
//! scripts and the page can never drift from the real flags (clap_complete, clap_mangen: the
//! clap project's own generators; hand-written scripts for five shells and roff would rot).

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::outcome::Report;
use clap::CommandFactory;

/// Arguments of `mcbot completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `mcbot man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

/// The completion script for `shell`.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<Report> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "mcbot", &mut buf);
    let script = String::from_utf8(buf).map_err(|e| Error::Usage(format!("completion script is not UTF-8: {e}")))?;
    Ok(text_report("completions", script).field("shell", args.shell.to_string()))
}

/// The man page: `mcbot(1)` followed by one section per subcommand (its about, flags and example).
pub(crate) fn man(_args: &ManArgs) -> Result<Report> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    let write = |buf: &mut Vec<u8>, c: clap::Command| {
        clap_mangen::Man::new(c).render(buf).map_err(|e| Error::Usage(format!("man page: {e}")))
    };
    write(&mut buf, cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write(
            &mut buf,
            sub.clone()
                .version(env!("CARGO_PKG_VERSION"))
                .display_name(format!("mcbot-{}", sub.get_name()))
                .bin_name(format!("mcbot {}", sub.get_name())),
        )?;
    }
    let page = String::from_utf8(buf).map_err(|e| Error::Usage(format!("man page is not UTF-8: {e}")))?;
    Ok(text_report("man", page))
}

/// A report whose text is `body` verbatim; under `--json` the body is the `text` field.
fn text_report(command: &str, body: String) -> Report {
    let mut r = Report::ok(command);
    r.push_line(body.trim_end().to_string());
    r.set("text", body);
    r
}
