//! The mcbot binary: parse, run, exit. Everything else lives in the library.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(mcbot::run(std::env::args_os()).code())
}
