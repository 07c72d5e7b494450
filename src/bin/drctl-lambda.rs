//! The bootstrap of drctl as a scheduled AWS Lambda function (packaged as
//! `bootstrap` for the `provided.al2023` runtime); see `drctl::lambda`.

fn main() -> std::process::ExitCode {
    drctl::cli::lambda::main()
}
