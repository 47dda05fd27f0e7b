//! The `gatehouse` command. Everything happens in `gatehouse::cli`.

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
